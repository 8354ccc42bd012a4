# common.sh - helpers shared by the shell test drivers (sourced, not run).
#
# Environment:
#   FT_MALLOC_SO     library under test (default: $PWD/libft_malloc.so)
#   FT_TEST_TIMEOUT  per-test timeout in seconds (default 60)
#   CC               C compiler (default gcc)
# Output: one line per test, "PASS name" or "FAIL name: reason"; lines
# starting with "# " are informational.

TESTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$TESTS_ROOT/.." && pwd)
BUILD="$TESTS_ROOT/build"

FT_MALLOC_SO=${FT_MALLOC_SO:-$PWD/libft_malloc.so}
case $FT_MALLOC_SO in
/*) ;;
*) FT_MALLOC_SO="$PWD/$FT_MALLOC_SO" ;;
esac
export FT_MALLOC_SO

CC=${CC:-gcc}
CFLAGS="-O1 -g -Wall -Wextra -pthread -fno-builtin"
TIMEOUT=${FT_TEST_TIMEOUT:-60}
FILTER=${1:-}

N_PASS=0
N_FAIL=0

pass() {
	echo "PASS $1"
	N_PASS=$((N_PASS + 1))
}

fail() {
	echo "FAIL $1: $2"
	N_FAIL=$((N_FAIL + 1))
}

info() {
	echo "# $*"
}

# wanted NAME: true when NAME matches the optional filter (extended regex).
wanted() {
	[ -z "$FILTER" ] || echo "$1" | grep -Eq -- "$FILTER"
}

# Fail every later test early when the library is missing.
require_lib() {
	if [ ! -f "$FT_MALLOC_SO" ]; then
		fail "${1:-setup}" "$FT_MALLOC_SO not found (run make, or set FT_MALLOC_SO)"
		finish
	fi
}

# no_debug_env: unsets the debug variables (FT_MALLOC_CHECK and the rest), so that
# a test sees the library's plain behaviour whatever the caller's environment.
no_debug_env() {
	unset FT_MALLOC_CHECK FT_MALLOC_SCRIBBLE FT_MALLOC_GUARD FT_MALLOC_STATS FT_MALLOC_LOG \
		FT_MALLOC_HISTORY FT_MALLOC_REPORT
}

# build_single NAME: require_lib, no_debug_env, then tests/c/NAME.c built into
# BIN ($BUILD/c/NAME); on a build failure, finish and exit 1.
build_single() {
	require_lib "$1"
	no_debug_env
	BIN="$BUILD/c/$1"
	build "$BIN" "$TESTS_ROOT/c/$1.c" || { finish; exit 1; }
}

# build OUT ARGS...: compile ARGS (sources and extra flags) into OUT with
# $CFLAGS; a failure is reported as "FAIL build_<name>" with the first error.
build() {
	local out=$1
	shift
	mkdir -p "$(dirname "$out")"
	if ! $CC $CFLAGS -o "$out" "$@" >"$out.log" 2>&1; then
		fail "build_$(basename "$out")" "compilation failed: $(grep -m1 -E 'error|undefined' "$out.log" || head -n1 "$out.log")"
		return 1
	fi
	if [ -s "$out.log" ]; then
		info "warnings while building $(basename "$out"):"
		sed 's/^/#   /' "$out.log" | head -n 20
	fi
	return 0
}

# reason RC ERRFILE: human-readable cause of a failed run (exit status, and
# the last line the program wrote to stderr).
reason() {
	local rc=$1 err=$2 why last
	case $rc in
	124) why="timed out after ${TIMEOUT}s (deadlock or infinite loop?)" ;;
	137) why="killed by SIGKILL (timeout or out of memory)" ;;
	*)
		if [ "$rc" -gt 128 ]; then
			why="killed by signal SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
		else
			why="exit code $rc"
		fi
		;;
	esac
	last=$(grep -v '^[[:space:]]*$' "$err" 2>/dev/null | tail -n 1 | cut -c1-300)
	[ -n "$last" ] && why="$why: $last"
	echo "$why"
}

# run_capture NAME PRELOAD(0|1) CMD...: run under timeout with stdout and
# stderr in $LAST_OUT / $LAST_ERR; returns the exit status.  PRELOAD=1 sets
# LD_PRELOAD for CMD only (not for timeout/env).
LAST_OUT=
LAST_ERR=
run_capture() {
	local name=$1 pre=$2 rc
	shift 2
	mkdir -p "$BUILD/logs"
	LAST_OUT="$BUILD/logs/$name.out"
	LAST_ERR="$BUILD/logs/$name.err"
	local preload=()
	[ "$pre" = 1 ] && preload=("LD_PRELOAD=$FT_MALLOC_SO")
	# { } 2>/dev/null: keeps bash's "Segmentation fault" job notices quiet
	{
		timeout -k 5 "$TIMEOUT" env "${preload[@]}" FT_EXPECT_SO="$FT_MALLOC_SO" \
			"$@" >"$LAST_OUT" 2>"$LAST_ERR" </dev/null
		rc=$?
	} 2>/dev/null
	return $rc
}

# run_case NAME PRELOAD(0|1) CMD...: run_capture, then report PASS/FAIL.
# Also fails when the program printed "T_PENDING" but never "T_DONE" (used by
# tests whose last checks run in destructors after main returned).
run_case() {
	local name=$1 rc
	run_capture "$@"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "$(reason $rc "$LAST_ERR")"
		return 1
	fi
	if grep -q '^T_PENDING$' "$LAST_OUT" && ! grep -q '^T_DONE$' "$LAST_OUT"; then
		fail "$name" "exited 0 but its final checks never ran: $(tail -n1 "$LAST_ERR")"
		return 1
	fi
	pass "$name"
	return 0
}

# run_suite BIN [PRELOAD]: run each sub-test listed by `BIN --list`.
run_suite() {
	local bin=$1 pre=${2:-1} prefix t
	prefix=$(basename "$bin")
	for t in $("$bin" --list); do
		wanted "$prefix.$t" || continue
		run_case "$prefix.$t" "$pre" "$bin" "$t"
	done
}

finish() {
	info "$N_PASS passed, $N_FAIL failed"
	[ "$N_FAIL" -eq 0 ]
	exit $?
}
