#!/usr/bin/env bash
# debug.sh - the debug modes: misuse detection (misuse.c) under
# FT_MALLOC_CHECK=0..3 with and without FT_MALLOC_GUARD=1, and the other
# FT_MALLOC_* variables and statistics functions (debugmodes.c).
#
# misuse.<case>.check<M>[.guard]: what each mode must do about the misuse
#   0  nothing on stderr, the program goes on (prints END), exit 0
#   1  exactly one stderr line "ft_malloc: <func>(): <kind>", naming the
#      pointer the program printed; goes on, exit 0
#   2  nothing on stderr, SIGABRT (status 134)
#   3  the line of mode 1, then SIGABRT
# The GUARD-only cases (overflow_*, write_after_free) run without GUARD too:
# nothing may be reported then.  large_overrun (GUARD) must die of SIGSEGV in
# every mode.  usable_full commits no misuse (it writes all of
# malloc_usable_size()): nothing may be reported in any mode.
# debug.<sub-test>: see debugmodes.c; the checks on its output are here.
# Usage: bash tests/c/debug.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib debug
DIR="$TESTS_ROOT/c"
MISUSE="$BUILD/c/misuse"
MODES="$BUILD/c/debugmodes"
no_debug_env
ulimit -c 0 # no core files (and no "dumped core" notice from timeout)

# val TAG FILE: the value after "TAG " on its first line in FILE.
val() {
	sed -n "s/^$1 //p" "$2" | head -n 1
}

# ---------------------------------------------------------------------
# misuse matrix

# The diagnostic (after "ft_malloc: ") each case must print; PTR, BLOCK, OFF
# and SIZE are replaced by what the program printed.
expected_line() {
	case $1 in
	double_free_*) echo "free(): double free of PTR" ;;
	interior_*) echo "free(): interior pointer PTR (OFF bytes into the block at BLOCK)" ;;
	stack_ptr | wild_ptr) echo "free(): pointer not allocated by ft_malloc: PTR" ;;
	realloc_foreign) echo "realloc(): pointer not allocated by ft_malloc: PTR" ;;
	usable_interior) echo "malloc_usable_size(): interior pointer PTR (OFF bytes into the block at BLOCK)" ;;
	overflow_*) echo "free(): guard bytes overwritten after the block at PTR (SIZE bytes requested)" ;;
	write_after_free) echo "malloc(): write after free in the block at PTR" ;;
	esac
}

# check_misuse NAME CASE MODE OUTCOME(report|silent|segv) RC
check_misuse() {
	local name=$1 t=$2 mode=$3 outcome=$4 rc=$5 want got lines v
	lines=$(grep -c '' "$LAST_ERR")
	if [ "$outcome" = segv ]; then
		if [ "$rc" -ne 139 ]; then
			fail "$name" "want SIGSEGV (139), got $(reason "$rc" "$LAST_ERR")"
		elif grep -q '^END$' "$LAST_OUT"; then
			fail "$name" "went on after the overrun"
		elif [ "$lines" -ne 0 ]; then
			fail "$name" "unexpected stderr: $(head -n1 "$LAST_ERR")"
		else
			pass "$name"
		fi
		return
	fi
	if [ "$outcome" = silent ] || [ "$mode" = 0 ] || [ "$mode" = 1 ]; then
		# the program must go on
		if [ "$rc" -ne 0 ]; then
			fail "$name" "$(reason "$rc" "$LAST_ERR")"
			return
		fi
		if ! grep -q '^END$' "$LAST_OUT"; then
			fail "$name" "exit 0 but no END marker"
			return
		fi
	else
		if [ "$rc" -ne 134 ]; then
			fail "$name" "want SIGABRT (134), got $(reason "$rc" "$LAST_ERR")"
			return
		fi
		if grep -q '^END$' "$LAST_OUT"; then
			fail "$name" "went on after the misuse"
			return
		fi
	fi
	if [ "$outcome" = silent ] || [ "$mode" = 0 ] || [ "$mode" = 2 ]; then
		if [ "$lines" -ne 0 ]; then
			fail "$name" "want nothing on stderr, got: $(head -n1 "$LAST_ERR")"
		else
			pass "$name"
		fi
		return
	fi
	if grep -q '^REUSED_OTHER' "$LAST_OUT"; then
		fail "$name" "the next malloc(100) did not reuse the freed block: $(val REUSED_OTHER "$LAST_OUT")"
		return
	fi
	want="ft_malloc: $(expected_line "$t")"
	for v in PTR BLOCK OFF SIZE; do
		want=${want//$v/$(val $v "$LAST_OUT")}
	done
	got=$(head -n 1 "$LAST_ERR")
	if [ "$lines" -ne 1 ]; then
		fail "$name" "want exactly 1 line on stderr, got $lines: $(head -c 300 "$LAST_ERR" | tr '\n' '|')"
	elif [ "${got,,}" != "${want,,}" ]; then
		# hex digits compared case-insensitively
		fail "$name" "stderr: \"$got\", want \"$want\""
	else
		pass "$name"
	fi
}

if build "$MISUSE" "$DIR/misuse.c"; then
	for t in $("$MISUSE" --list); do
		case $t in
		overflow_* | write_after_free) guards="0 1" guard_only=1 ;;
		large_overrun) guards="1" guard_only=1 ;;
		usable_full) guards="0 1" guard_only=2 ;;
		*) guards="0 1" guard_only=0 ;;
		esac
		for g in $guards; do
			for mode in 0 1 2 3; do
				name="misuse.$t.check$mode"
				env=(FT_MALLOC_CHECK=$mode)
				if [ "$g" = 1 ]; then
					name="$name.guard"
					env+=(FT_MALLOC_GUARD=1)
				fi
				wanted "$name" || continue
				if [ "$t" = large_overrun ]; then
					outcome=segv
				elif [ "$guard_only" = 2 ] || { [ "$guard_only" = 1 ] && [ "$g" = 0 ]; }; then
					outcome=silent
				else
					outcome=report
				fi
				run_capture "$name" 1 "${env[@]}" "$MISUSE" "$t"
				check_misuse "$name" "$t" "$mode" "$outcome" $?
			done
		done
	done
fi

# ---------------------------------------------------------------------
# other debug variables and the statistics API

# linked with the library (ft_malloc_stats, show_alloc_mem_ex* are not in
# libc), and preloaded as well
build "$MODES" -I"$REPO_ROOT/include" "$DIR/debugmodes.c" -L"$(dirname "$FT_MALLOC_SO")" \
	-l:"$(basename "$FT_MALLOC_SO")" -Wl,-rpath,"$(dirname "$FT_MALLOC_SO")" || finish

# run_ok NAME ENV... -- SUB-TEST: run_capture; fails (returns 1) unless exit 0.
run_ok() {
	local name=$1 rc
	shift
	run_capture "$name" 1 "$@"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "$(reason $rc "$LAST_ERR")"
		return 1
	fi
	return 0
}

name=debug.scribble
if wanted $name && run_ok $name FT_MALLOC_SCRIBBLE=1 "$MODES" scribble; then
	pass $name
fi

# Bytes up to malloc_usable_size() survive realloc, in every mode.
for mode in NONE=1 FT_MALLOC_CHECK=1 FT_MALLOC_SCRIBBLE=1 FT_MALLOC_GUARD=1; do
	name=debug.realloc_usable.${mode%%=*}
	if wanted $name && run_ok $name "$mode" "$MODES" realloc_usable; then
		pass $name
	fi
done

# Blocks resized within their class or mapping stay in place, in every mode but the guard.
for mode in NONE=1 FT_MALLOC_CHECK=1 FT_MALLOC_CHECK=3 FT_MALLOC_SCRIBBLE=1; do
	name=debug.realloc_in_place.${mode%%=*}
	[ "$mode" = FT_MALLOC_CHECK=3 ] && name=$name.3
	if wanted $name && run_ok $name "$mode" "$MODES" realloc_in_place; then
		pass $name
	fi
done

# FT_MALLOC_STATS=1: the counters at exit, against an empty program's
statval() { # statval LABEL FILE
	sed -n "s/^ft_malloc: $1  *\([0-9][0-9]*\)$/\1/p" "$2" | head -n 1
}
name=debug.stats_exit
if wanted $name && run_ok $name.base FT_MALLOC_STATS=1 "$MODES" stats_empty; then
	base_err="$BUILD/logs/$name.base.err.keep"
	cp "$LAST_ERR" "$base_err"
	if run_ok $name FT_MALLOC_STATS=1 "$MODES" stats_work; then
		why=
		sum=$(val SUM "$LAST_OUT")
		live=$(val LIVE_SUM "$LAST_OUT")
		for check in "malloc calls:1000" "free calls:600" "calloc calls:0" \
			"realloc calls:0" "aligned calls:0" "bytes requested:$sum" \
			"live blocks:400" "live requested bytes:$live" "misuses detected:0"; do
			label=${check%:*}
			want=${check##*:}
			b=$(statval "$label" "$base_err")
			w=$(statval "$label" "$LAST_ERR")
			if [ -z "$b" ] || [ -z "$w" ]; then
				why="no \"ft_malloc: $label\" line on stderr"
				break
			fi
			if [ $((w - b)) -ne "$want" ]; then
				why="$label: $w, $b in an empty program: difference $((w - b)), want $want"
				break
			fi
		done
		for label in "TINY zones" "SMALL zones" "LARGE blocks" "bytes mapped" \
			"peak bytes mapped" "mmap calls" "munmap calls" "madvise calls" \
			"live usable bytes" "peak requested bytes"; do
			[ -n "$why" ] && break
			[ -n "$(statval "$label" "$LAST_ERR")" ] || why="no \"ft_malloc: $label\" line"
		done
		if [ -z "$why" ] && ! grep -Eq '^ft_malloc: fragmentation +[0-9]+\.[0-9]% \(1 - requested / mapped\)$' "$LAST_ERR"; then
			why="no fragmentation line"
		fi
		if [ -n "$why" ]; then
			fail $name "$why (see $LAST_ERR)"
		else
			pass $name
		fi
	fi
fi

# FT_MALLOC_LOG=path
name=debug.log
if wanted $name; then
	logf="$BUILD/logs/$name.malloc.log"
	rm -f "$logf"
	if run_ok $name FT_MALLOC_LOG="$logf" "$MODES" log; then
		a=$(sed -n 's/^PTR a //p' "$LAST_OUT")
		b=$(sed -n 's/^PTR b //p' "$LAST_OUT")
		c=$(sed -n 's/^PTR c //p' "$LAST_OUT")
		d=$(sed -n 's/^PTR d //p' "$LAST_OUT")
		want="malloc(10) = $a
malloc(20) = $b
malloc(30) = $c
realloc($a, 100) = $d
free($b)
free($d)"
		# the 6 lines must be consecutive, all from one thread
		got=$(grep -n -i -F "malloc(10) = $a thread " "$logf" | head -n 1 | cut -d: -f1)
		if [ ! -s "$logf" ]; then
			fail $name "no log written to $logf"
		elif [ -z "$got" ]; then
			fail $name "no line \"malloc(10) = $a thread ...\" in $logf"
		else
			lines=$(sed -n "$got,$((got + 5))p" "$logf")
			threads=$(echo "$lines" | sed -n 's/.* thread \(0x[0-9A-Fa-f]*\)$/\1/p' | sort -u | wc -l)
			calls=$(echo "$lines" | sed 's/ thread 0x[0-9A-Fa-f]*$//')
			if [ "${calls,,}" != "${want,,}" ]; then
				fail $name "log lines $got..: \"$(echo "$lines" | tr '\n' '|')\", want \"$(echo "$want" | tr '\n' '|')\""
			elif [ "$threads" -ne 1 ]; then
				fail $name "the 6 lines do not all name one thread: $(echo "$lines" | tr '\n' '|')"
			else
				pass $name
			fi
		fi
	fi
fi

# FT_MALLOC_HISTORY=8 + show_alloc_mem_ex() (and without the history)
hx='0x[0-9A-F]+'
check_ex() { # check_ex NAME HISTORY(0|1)
	local name=$1 hist=$2 out=$LAST_OUT err=$LAST_ERR ex dump h h_end l l_end c e f
	ex="$BUILD/logs/$name.ex"
	sed -n '/^--- ex$/,$p' "$out" | sed 1d >"$ex"
	dump=$(sed -n '/^--- ex$/q;p' "$out")
	ptr() { sed -n "s/^PTR $1 //p" "$err"; }
	h=$(ptr h)
	l=$(ptr l)
	h_end=$(printf '0x%X' $((h + 18)))
	l_end=$(printf '0x%X' $((l + 100000)))
	local d0='    00000000  48 65 6c 6c 6f 2c 20 66  74 5f 6d 61 6c 6c 6f 63  |Hello, ft_malloc|'
	local d1
	d1="$(printf '%-64s' '    00000010  21 00')|!.|"
	local want_dump="$h - $h_end : 18 bytes
$d0
$d1"
	if [ "$dump" != "$want_dump" ]; then
		fail "$name" "show_alloc_mem_ex_dump(h): \"$(echo "$dump" | tr '\n' '|')\", want \"$(echo "$want_dump" | tr '\n' '|')\""
		return
	fi
	# the block h, its line and its dump, in the detailed view
	if ! grep -A2 -x -F "$h - $h_end : 18 bytes" "$ex" | sed 1d | diff -q - <(printf '%s\n%s\n' "$d0" "$d1") >/dev/null; then
		fail "$name" "no \"$h - $h_end : 18 bytes\" line followed by its dump (see $ex)"
		return
	fi
	if ! grep -Eq "^TINY : $hx - $hx  class [0-9]+ B  blocks [0-9]+/[0-9]+  requested [0-9]+ B / mapped [0-9]+ B$" "$ex"; then
		fail "$name" "no TINY zone header line (see $ex)"
		return
	fi
	if ! grep -Eq "^SMALL : $hx - $hx  class [0-9]+ B  blocks [0-9]+/[0-9]+  requested [0-9]+ B / mapped [0-9]+ B$" "$ex"; then
		fail "$name" "no SMALL zone header line (see $ex)"
		return
	fi
	# every zone header is followed by its occupancy bar
	local bars headers
	headers=$(grep -Ec '^(TINY|SMALL) : ' "$ex")
	bars=$(grep -E -A1 '^(TINY|SMALL) : ' "$ex" | grep -Ec '^  \[[#+._]+\]  # used  \+ partly used  \. free  _ never used; one mark = [0-9]+ blocks?$')
	if [ "$headers" -ne "$bars" ]; then
		fail "$name" "$headers zone headers but $bars occupancy bars after them (see $ex)"
		return
	fi
	if ! grep -Eq "^LARGE : $hx - $hx  mapping [0-9]+ B$" "$ex" ||
		! grep -q -x -F "$l - $l_end : 100000 bytes" "$ex" ||
		! grep -A1 -x -F "$l - $l_end : 100000 bytes" "$ex" | grep -q -x -F '    00000000  6c 6c 6c 6c 6c 6c 6c 6c  6c 6c 6c 6c 6c 6c 6c 6c  |llllllllllllllll|'; then
		fail "$name" "no LARGE header, or no line/dump for the 100000-byte block $l (see $ex)"
		return
	fi
	if ! grep -Eq "^$hx - $hx : (free|never used) \([0-9]+ blocks?\)$" "$ex"; then
		fail "$name" "no free / never used block range line (see $ex)"
		return
	fi
	if ! grep -Eq '^Total : [0-9]+ bytes in [0-9]+ blocks$' "$ex"; then
		fail "$name" "no \"Total : N bytes in M blocks\" line (see $ex)"
		return
	fi
	if [ "$hist" = 0 ]; then
		if [ "$(tail -n 1 "$ex")" != "History: off (set FT_MALLOC_HISTORY=n to keep the last n operations)" ]; then
			fail "$name" "last line \"$(tail -n 1 "$ex")\", want \"History: off ...\""
		else
			pass "$name"
		fi
		return
	fi
	# the history ends the output: the last 8 operations, oldest first
	local want_hist got_hist n_after
	want_hist="  malloc $(ptr a) 40 bytes
  calloc $(ptr b) 30 bytes
  free $(ptr a) 40 bytes
  realloc $(ptr c) 200 bytes
  malloc $(ptr d) 50 bytes
  free $(ptr d) 50 bytes
  aligned_alloc $(ptr e) 64 bytes
  malloc $(ptr f) 7 bytes"
	if [ "$(grep -c '^History (oldest first):$' "$ex")" -ne 1 ]; then
		fail "$name" "no \"History (oldest first):\" line (see $ex)"
		return
	fi
	n_after=$(sed -n '/^History (oldest first):$/,$p' "$ex" | sed 1d | wc -l)
	got_hist=$(sed -n '/^History (oldest first):$/,$p' "$ex" | sed 1d)
	if [ "$n_after" -ne 8 ]; then
		fail "$name" "$n_after lines after \"History (oldest first):\", want 8 (see $ex)"
	elif [ "$(echo "$got_hist" | sed -n 's/.*  thread \(0x[0-9A-F]*\)$/\1/p' | sort -u | wc -l)" -ne 1 ]; then
		fail "$name" "history lines do not end with one \"  thread 0x...\": $(echo "$got_hist" | tr '\n' '|')"
	elif [ "$(echo "$got_hist" | sed 's/  thread 0x[0-9A-F]*$//')" != "$want_hist" ]; then
		fail "$name" "history \"$(echo "$got_hist" | tr '\n' '|')\", want \"$(echo "$want_hist" | tr '\n' '|')\""
	else
		pass "$name"
	fi
}
name=debug.history
if wanted $name && run_ok $name FT_MALLOC_HISTORY=8 "$MODES" history; then
	check_ex $name 1
fi
name=debug.show_ex_nohistory
if wanted $name && run_ok $name "$MODES" history; then
	check_ex $name 0
fi

for t in stats_api; do
	for env in "" FT_MALLOC_STATS=1; do
		name="debug.$t${env:+.stats_env}"
		wanted "$name" || continue
		# shellcheck disable=SC2086
		run_ok "$name" $env "$MODES" $t && pass "$name"
	done
done
name=debug.stats_counters
if wanted $name && run_ok $name FT_MALLOC_STATS=1 "$MODES" stats_counters; then
	pass $name
fi
finish
