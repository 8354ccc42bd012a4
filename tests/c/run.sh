#!/usr/bin/env bash
# run.sh - C-level test suite for ft_malloc.
#
# Usage (from the repo root): bash tests/c/run.sh [filter-regex]
#   FT_MALLOC_SO     library under test (default: $PWD/libft_malloc.so)
#   FT_TEST_TIMEOUT  per-test timeout, seconds (default 60)
#
# Programs (see the header comment of each file for what they check):
#   api.c overflow.c badptr.c threads.c fork.c tls_dtor.c oom.c  (LD_PRELOAD,
#   one process per sub-test), mmapcount.sh, bindings.sh, show.sh.
# Prints "PASS name" / "FAIL name: reason" per test; exits 1 if any failed.
# Build products and logs go to tests/build/.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$TESTS_ROOT/c"
require_lib setup
info "library: $FT_MALLOC_SO"

for prog in api overflow badptr threads fork tls_dtor oom; do
	build "$BUILD/c/$prog" "$DIR/$prog.c" -ldl || continue
	run_suite "$BUILD/c/$prog" 1
done

for script in mmapcount.sh bindings.sh show.sh; do
	out="$BUILD/logs/$script.log"
	mkdir -p "$BUILD/logs"
	bash "$DIR/$script" "$FILTER" >"$out" 2>&1
	grep -v '^# [0-9]* passed, [0-9]* failed$' "$out"
	N_PASS=$((N_PASS + $(grep -c '^PASS ' "$out")))
	N_FAIL=$((N_FAIL + $(grep -c '^FAIL ' "$out")))
done
finish
