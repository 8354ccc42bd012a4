#!/usr/bin/env bash
# run.sh - other projects' own test suites on ft_malloc.
#
# Usage (from the repo root): bash tests/outside/run.sh [filter-regex]
#   FT_MALLOC_SO     library under test (default: $PWD/libft_malloc.so)
#
#   cpython.sh   CPython's regression tests (python3 -m test -j2, 23 test
#                files) with LD_PRELOAD and PYTHONMALLOC=malloc, compared with
#                the same run on glibc (~1 min)
#   redis.sh     redis-server on ft_malloc under redis-benchmark, DEBUG
#                RELOAD, FLUSHALL ASYNC and SHUTDOWN (~15 s; SKIP when redis
#                is not installed)
#   glibc.sh     glibc's own malloc tests (29 of them, tests/outside/glibc),
#                built as standalone programs and preloaded (~1 min)
# Prints "PASS name" / "FAIL name: reason" (and "SKIP ..." lines) per test;
# exits 1 if any failed.  Logs: tests/build/logs/outside.*.log and
# tests/build/outside/.
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

DIR="$TESTS_ROOT/outside"
require_lib setup
info "library: $FT_MALLOC_SO"

mkdir -p "$BUILD/logs"
for script in cpython.sh redis.sh glibc.sh; do
	out="$BUILD/logs/outside.$script.log"
	t0=$SECONDS
	bash "$DIR/$script" "$FILTER" >"$out" 2>&1
	rc=$?
	grep -v '^# [0-9]* passed, [0-9]* failed$' "$out"
	n_pass=$(grep -c '^PASS ' "$out")
	n_fail=$(grep -c '^FAIL ' "$out")
	N_PASS=$((N_PASS + n_pass))
	N_FAIL=$((N_FAIL + n_fail))
	# a script that died without saying why
	if [ $rc -ne 0 ] && [ "$n_fail" -eq 0 ]; then
		fail "${script%.sh}" "exited $rc without a FAIL line (log: $out)"
	fi
	info "$script: $((SECONDS - t0)) s"
done
finish
