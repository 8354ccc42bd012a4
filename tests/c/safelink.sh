#!/usr/bin/env bash
# safelink.sh - a use-after-free write over a free-list link (safelink.c):
#   safelink.mode0  silent, the forged address is never returned, the heap works (END)
#   safelink.mode1  the same, and exactly one line
#                   "ft_malloc: malloc(): free list corrupted: the freed block at PTR was overwritten"
# Usage: bash tests/c/safelink.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib safelink
unset FT_MALLOC_CHECK FT_MALLOC_SCRIBBLE FT_MALLOC_GUARD FT_MALLOC_STATS FT_MALLOC_LOG \
	FT_MALLOC_HISTORY FT_MALLOC_REPORT
BIN="$BUILD/c/safelink"
build "$BIN" "$TESTS_ROOT/c/safelink.c" || { finish; exit 1; }

for mode in 0 1; do
	name=safelink.mode$mode
	wanted "$name" || continue
	run_capture "$name" 1 env FT_MALLOC_CHECK=$mode "$BIN"
	rc=$?
	ptr=$(sed -n 's/^PTR 0x//p' "$LAST_OUT" | head -n1 | tr 'a-f' 'A-F')
	if [ $rc -ne 0 ] || ! grep -q '^END$' "$LAST_OUT"; then
		fail "$name" "$(reason $rc "$LAST_ERR"): $(grep FAIL "$LAST_OUT" | head -n1)"
	elif [ "$mode" = 0 ] && [ -s "$LAST_ERR" ]; then
		fail "$name" "want nothing on stderr, got: $(head -n1 "$LAST_ERR")"
	elif [ "$mode" = 1 ] && [ "$(cat "$LAST_ERR")" != "ft_malloc: malloc(): free list corrupted: the freed block at 0x$ptr was overwritten" ]; then
		fail "$name" "stderr: $(head -n2 "$LAST_ERR" | tr '\n' '|')"
	else
		pass "$name"
	fi
done
finish
