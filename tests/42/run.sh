#!/usr/bin/env bash
# run.sh - the 42 subject's evaluation programs against ft_malloc.
#
# Usage (from the repo root): bash tests/42/run.sh [filter-regex]
#   FT_MALLOC_SO (default: $PWD/libft_malloc.so), FT_TEST_TIMEOUT (default 60)
#
#   42.test0 .. 42.test4, 42.test3bis   run with LD_PRELOAD; exit 0, and
#                        test3/test3bis print "Bonjours\nBonjours\n",
#                        test4 prints "Bonjours\n", the others nothing
#   42.test5             linked with -lft_malloc (rpath), not preloaded:
#                        show_alloc_mem lists 1024, 32768, 1048576, 16777216,
#                        134217728 and "Total : 152077312 bytes" (their
#                        sum; format checked by tests/c/showcheck.c)
#   42.pagefaults_test1  minor page faults (/usr/bin/time -f %R, median of 5,
#                        ASLR off with setarch -R when possible, as it adds
#                        +-3 pages of noise): 255 <= test1 - test0 <= 272
#   42.pagefaults_test2  test2 - test0 <= 3
#   42.makefile          in a copy of the sources: `make` twice (nothing to do the
#                        second time), `HOSTTYPE=Testing make` (the link points at
#                        libft_malloc_Testing.so), `make` (back at the default
#                        name), `make -j2 re` (both libraries gone, the default
#                        one rebuilt, and the link)
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

DIR="$TESTS_ROOT/42"
B="$BUILD/42"
require_lib setup
info "library: $FT_MALLOC_SO"
LIBDIR=$(dirname "$FT_MALLOC_SO")
LIBNAME=$(basename "$FT_MALLOC_SO")

declare -A built
for t in test0 test1 test2 test3 test3bis test4; do
	build "$B/$t" "$DIR/$t.c" && built[$t]=1
done
build "$B/test5" "$DIR/test5.c" -L"$LIBDIR" -l:"$LIBNAME" -Wl,-rpath,"$LIBDIR" && built[test5]=1
build "$B/showcheck" -I"$REPO_ROOT/include" "$TESTS_ROOT/c/showcheck.c" && built[showcheck]=1

# expect_output TEST EXPECTED-STDOUT (printf format)
expect_output() {
	local t=$1 want=$2 rc
	wanted "42.$t" || return 0
	[ -n "${built[$t]:-}" ] || return 0
	run_capture "42.$t" 1 "$B/$t"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "42.$t" "$(reason $rc "$LAST_ERR")"
		return
	fi
	printf "$want" >"$LAST_OUT.want"
	if cmp -s "$LAST_OUT" "$LAST_OUT.want"; then
		pass "42.$t"
	else
		fail "42.$t" "stdout is '$(head -c 200 "$LAST_OUT" | od -An -c | tr -s ' ' | tr -d '\n')', want '$(od -An -c "$LAST_OUT.want" | tr -s ' ' | tr -d '\n')'"
	fi
}

expect_output test0 ''
expect_output test1 ''
expect_output test2 ''
expect_output test3 'Bonjours\nBonjours\n'
expect_output test3bis 'Bonjours\nBonjours\n'
expect_output test4 'Bonjours\n'

if wanted 42.test5 && [ -n "${built[test5]:-}" ] && [ -n "${built[showcheck]:-}" ]; then
	run_capture 42.test5 0 "$B/test5"
	rc=$?
	sizes="1024 32768 1048576 16777216 134217728"
	total=$((1024 + 32768 + 1048576 + 16777216 + 134217728)) # 152077312
	printf 'EXPECT %s\n' $sizes >"$LAST_OUT.expect"
	echo "EXPECT_TOTAL $total" >>"$LAST_OUT.expect"
	if [ $rc -ne 0 ]; then
		fail 42.test5 "$(reason $rc "$LAST_ERR")"
	elif ! grep -qx "Total : $total bytes" "$LAST_OUT"; then
		fail 42.test5 "no line 'Total : $total bytes' in the output: $(tail -n1 "$LAST_OUT")"
	elif why=$("$B/showcheck" "$LAST_OUT" "$LAST_OUT.expect" 2>&1); then
		pass 42.test5
	else
		fail 42.test5 "$why (see $LAST_OUT)"
	fi
fi

# Address-space randomisation makes the fault count of the same program vary
# by a few pages from run to run; with it off (setarch -R) the count is exact.
# Where setarch -R is not allowed (some container seccomp profiles), take the
# median of 11 runs instead of 5.
NORAND=()
RUNS=11
ASLR=on
if setarch "$(uname -m)" -R true 2>/dev/null; then
	NORAND=(setarch "$(uname -m)" -R)
	RUNS=5
	ASLR=off
fi

# median_faults BIN: median of $RUNS runs of the minor page fault count
# (ru_minflt, "page reclaims"), LD_PRELOAD on the program only.
FAULT_ERR=
median_faults() {
	local bin=$1 i rc v vals=()
	for ((i = 0; i < RUNS; i++)); do
		{
			timeout -k 5 "$TIMEOUT" "${NORAND[@]}" /usr/bin/time -f %R -o "$B/time.out" \
				env LD_PRELOAD="$FT_MALLOC_SO" "$bin" >/dev/null 2>&1
			rc=$?
		} 2>/dev/null
		v=$(tail -n 1 "$B/time.out" 2>/dev/null)
		if [ $rc -ne 0 ] || ! [[ $v =~ ^[0-9]+$ ]]; then
			FAULT_ERR="$(basename "$bin") failed: $(reason $rc /dev/null)"
			return 1
		fi
		vals+=("$v")
	done
	printf '%s\n' "${vals[@]}" | sort -n | sed -n "$((RUNS / 2 + 1))p"
}

if wanted 42.pagefaults_test1 || wanted 42.pagefaults_test2; then
	if [ ! -x /usr/bin/time ]; then
		wanted 42.pagefaults_test1 && fail 42.pagefaults_test1 "/usr/bin/time missing (apt-get install -y time)"
		wanted 42.pagefaults_test2 && fail 42.pagefaults_test2 "/usr/bin/time missing (apt-get install -y time)"
	elif [ -z "${built[test0]:-}" ] || [ -z "${built[test1]:-}" ] || [ -z "${built[test2]:-}" ]; then
		fail 42.pagefaults "test0/test1/test2 did not build"
	elif ! f0=$(median_faults "$B/test0") || ! f1=$(median_faults "$B/test1") ||
		! f2=$(median_faults "$B/test2"); then
		fail 42.pagefaults "$FAULT_ERR"
	else
		d1=$((f1 - f0))
		d2=$((f2 - f0))
		info "page reclaims (median of $RUNS, ASLR $ASLR): test0=$f0 test1=$f1 test2=$f2; test1-test0=$d1 test2-test0=$d2"
		if wanted 42.pagefaults_test1; then
			if [ $d1 -ge 255 ] && [ $d1 -le 272 ]; then
				pass 42.pagefaults_test1
			else
				fail 42.pagefaults_test1 "test1 - test0 = $d1 page reclaims, want 255..272"
			fi
		fi
		if wanted 42.pagefaults_test2; then
			if [ $d2 -le 3 ]; then
				pass 42.pagefaults_test2
			else
				fail 42.pagefaults_test2 "test2 - test0 = $d2 page reclaims, want <= 3"
			fi
		fi
	fi
fi
# The rules an evaluator runs, in a copy (fclean must not remove the library under test).
if wanted 42.makefile; then
	M="$B/makefile"
	rm -rf "$M" && mkdir -p "$M"
	cp -r "$REPO_ROOT/Makefile" "$REPO_ROOT/Cargo.toml" "$REPO_ROOT/src" "$REPO_ROOT/include" "$M/"
	[ -f "$REPO_ROOT/Cargo.lock" ] && cp "$REPO_ROOT/Cargo.lock" "$M/"
	default="libft_malloc_$(uname -m)_$(uname -s).so"
	why=
	mk() { timeout -k 5 600 make -C "$M" --no-print-directory "$@" >"$B/makefile.log" 2>&1 || why="make $* failed (log: $B/makefile.log)"; }
	link_is() { [ "$(readlink "$M/libft_malloc.so")" = "$1" ] || why="${why:-after $2, libft_malloc.so -> $(readlink "$M/libft_malloc.so"), want $1}"; }
	mk
	link_is "$default" "make"
	[ -z "$why" ] && mk && ! grep -q "Nothing to be done" "$B/makefile.log" && why="a second make did something: $(head -c 300 "$B/makefile.log")"
	[ -z "$why" ] && HOSTTYPE=Testing mk && link_is libft_malloc_Testing.so "HOSTTYPE=Testing make"
	[ -z "$why" ] && mk && link_is "$default" "make after HOSTTYPE=Testing make"
	[ -z "$why" ] && mk -j2 re && link_is "$default" "make -j2 re"
	if [ -z "$why" ] && { [ ! -f "$M/$default" ] || [ -e "$M/libft_malloc_Testing.so" ]; }; then
		why="after make -j2 re: $(cd "$M" && ls libft_malloc*.so 2>/dev/null | tr '\n' ' ')"
	fi
	if [ -z "$why" ]; then
		pass 42.makefile
		rm -rf "$M"
	else
		fail 42.makefile "$why"
	fi
fi

finish
