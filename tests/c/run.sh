#!/usr/bin/env bash
# run.sh - C-level test suite for ft_malloc.
#
# Usage (from the repo root): bash tests/c/run.sh [filter-regex]
#   FT_MALLOC_SO     library under test (default: $PWD/libft_malloc.so)
#   FT_TEST_TIMEOUT  per-test timeout, seconds (default 60)
#
# Programs (see the header comment of each file for what they check):
#   api.c overflow.c badptr.c threads.c fork.c tls_dtor.c oom.c  (LD_PRELOAD,
#   one process per sub-test), dl.c (+ early.c as libearly.so), mmapcount.sh,
#   bindings.sh, show.sh, debug.sh (misuse.c, debugmodes.c), uafwrite.sh,
#   sigreenter.sh, memory.c (linked with the library for ft_malloc_stats, and
#   preloaded).
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

# The racing double free on the debug path, the allocating thread racing too (blocks
# scribbled and guarded when freed: a block must be claimed before it is written to).
if wanted threads.double_free_race_owner.debug && [ -x "$BUILD/c/threads" ]; then
	run_case threads.double_free_race_owner.debug 1 FT_MALLOC_GUARD=1 FT_MALLOC_SCRIBBLE=1 \
		"$BUILD/c/threads" double_free_race_owner
fi

# realloc moving a LARGE block while another thread frees it, on the debug path too (a guarded
# LARGE block is unmapped when freed: the copy faulted unless the block was claimed first).
if wanted threads.large_realloc_free_race.debug && [ -x "$BUILD/c/threads" ]; then
	run_case threads.large_realloc_free_race.debug 1 FT_MALLOC_GUARD=1 \
		"$BUILD/c/threads" large_realloc_free_race
fi

# With an unlimited stack the kernel uses the legacy address-space layout (mappings from a
# third of the address space up): segments and the registry's window must follow.
for t in api.realloc_content api.aligned_many threads.random_ops badptr.free_deadbeef; do
	if wanted "$t.legacy_layout" && [ -x "$BUILD/c/${t%%.*}" ]; then
		run_case "$t.legacy_layout" 1 bash -c 'ulimit -s unlimited && exec "$0" "$@"' \
			"$BUILD/c/${t%%.*}" "${t#*.}"
	fi
done

# memory.c: bounds on what stays mapped and resident; linked with the library
# (ft_malloc_stats) and preloaded as well.
if build "$BUILD/c/memory" -I"$REPO_ROOT/include" "$DIR/memory.c" -L"$(dirname "$FT_MALLOC_SO")" \
	-l:"$(basename "$FT_MALLOC_SO")" -Wl,-rpath,"$(dirname "$FT_MALLOC_SO")"; then
	run_suite "$BUILD/c/memory" 1
fi

# dl.c: dl* functions under the preload; linked against libearly.so, whose
# constructor allocates before ft_malloc's runs; opens libplug.so (plug.c).  early_ctor runs once more
# with the strictest debug modes (the early blocks are legitimate ones).
if build "$BUILD/c/libearly.so" -shared -fPIC "$DIR/early.c" &&
	build "$BUILD/c/libplug.so" -shared -fPIC "$DIR/plug.c" &&
	build "$BUILD/c/dl" "$DIR/dl.c" -L"$BUILD/c" -learly -Wl,-rpath,"$BUILD/c" -ldl; then
	run_suite "$BUILD/c/dl" 1
	if wanted dl.early_ctor.debug; then
		run_case dl.early_ctor.debug 1 FT_MALLOC_CHECK=3 FT_MALLOC_GUARD=1 \
			FT_MALLOC_SCRIBBLE=1 "$BUILD/c/dl" early_ctor
	fi
fi

for script in mmapcount.sh bindings.sh show.sh debug.sh uafwrite.sh sigreenter.sh; do
	out="$BUILD/logs/$script.log"
	mkdir -p "$BUILD/logs"
	bash "$DIR/$script" "$FILTER" >"$out" 2>&1
	grep -v '^# [0-9]* passed, [0-9]* failed$' "$out"
	N_PASS=$((N_PASS + $(grep -c '^PASS ' "$out")))
	N_FAIL=$((N_FAIL + $(grep -c '^FAIL ' "$out")))
done
finish
