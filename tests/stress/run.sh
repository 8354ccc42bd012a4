#!/usr/bin/env bash
# run.sh - long multi-threaded stress of ft_malloc (tests/stress/stress.c).
#
# Usage (from the repo root): bash tests/stress/run.sh
#   FT_MALLOC_SO          library under test (default: $PWD/libft_malloc.so)
#   STRESS_SECONDS        length of the main run (default 120)
#   STRESS_DEBUG_SECONDS  length of the run with FT_MALLOC_CHECK=3
#                         FT_MALLOC_GUARD=1 (default 20; 0 skips it)
#   STRESS_THREADS        long-lived worker threads (default 6)
#   STRESS_CHURN          short-lived threads alive at once (default 2)
#   STRESS_SEED           seed (default: random, printed; pass it to rerun)
#   STRESS_GLIBC=1        also run the same load on glibc first (for the
#                         ops/s comparison, and to validate the test itself)
#
#   stress.main   STRESS_SECONDS under LD_PRELOAD: every block's contents
#                 verified before free/realloc, cross-thread frees, threads
#                 exiting with live blocks, continuous thread creation;
#                 exit 0 and "stress: OK", nothing on stderr
#   stress.debug  STRESS_DEBUG_SECONDS with FT_MALLOC_CHECK=3 (report and
#                 abort on any detected misuse) and FT_MALLOC_GUARD=1 (guard
#                 pages, canaries, poisoned free blocks): must report nothing
# Prints "PASS name" / "FAIL name: reason"; exits 1 if any failed.  The
# output of each run (with the ops/s table) is shown and kept in
# tests/build/logs/stress.*.out.
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

DIR="$TESTS_ROOT/stress"
SECS=${STRESS_SECONDS:-120}
DSECS=${STRESS_DEBUG_SECONDS:-20}
THREADS=${STRESS_THREADS:-6}
CHURN=${STRESS_CHURN:-2}
SEED=${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
require_lib setup
info "library: $FT_MALLOC_SO"

# builtins off for the allocation functions only (gcc may assume calloc memory
# is zero, or drop a malloc/free pair); memcpy stays inline for the patterns
CFLAGS="-O2 -g -Wall -Wextra -pthread -fno-builtin-malloc -fno-builtin-calloc
	-fno-builtin-realloc -fno-builtin-free -fno-builtin-posix_memalign
	-fno-builtin-aligned_alloc -fno-builtin-memalign"
build "$BUILD/stress/stress" "$DIR/stress.c" || finish

ARGS=(--seed "$SEED" --threads "$THREADS" --churn "$CHURN")
info "seed $SEED (rerun: STRESS_SEED=$SEED bash tests/stress/run.sh," \
	"or LD_PRELOAD=$FT_MALLOC_SO $BUILD/stress/stress ${ARGS[*]} --seconds $SECS)"

# stress_run NAME PRELOAD(0|1) SECONDS [ENV=VALUE...]
stress_run() {
	local name=$1 pre=$2 secs=$3 rc
	shift 3
	local expect=()
	[ "$pre" = 1 ] && expect=(--expect-lib "$(basename "$(realpath "$FT_MALLOC_SO")")")
	TIMEOUT=$((secs + 90)) # the program's own watchdog fires after 60 s without progress
	local t0=$SECONDS
	run_capture "$name" "$pre" env "$@" "$BUILD/stress/stress" "${ARGS[@]}" --seconds "$secs" \
		--progress 30 "${expect[@]}"
	rc=$?
	sed 's/^/#   /' "$LAST_OUT"
	info "$name: $((SECONDS - t0)) s"
	if [ $rc -ne 0 ]; then
		fail "$name" "$(reason $rc "$LAST_ERR") (seed $SEED; full report in $LAST_ERR)"
		sed 's/^/#   /' "$LAST_ERR" | head -n 20
		return 1
	fi
	if [ -s "$LAST_ERR" ]; then
		fail "$name" "wrote to stderr: $(head -n1 "$LAST_ERR" | cut -c1-300) (seed $SEED)"
		sed 's/^/#   /' "$LAST_ERR" | head -n 20
		return 1
	fi
	if ! grep -q '^stress: OK$' "$LAST_OUT"; then
		fail "$name" "no 'stress: OK' line (seed $SEED)"
		return 1
	fi
	pass "$name"
}

if [ "${STRESS_GLIBC:-0}" = 1 ] && wanted stress.glibc; then
	stress_run stress.glibc 0 "$SECS"
fi
if wanted stress.main; then
	stress_run stress.main 1 "$SECS"
fi
if [ "$DSECS" != 0 ] && wanted stress.debug; then
	stress_run stress.debug 1 "$DSECS" FT_MALLOC_CHECK=3 FT_MALLOC_GUARD=1
fi
finish
