#!/usr/bin/env bash
# uafwrite.sh - a use-after-free write over freed blocks (uafwrite.c), with
# FT_MALLOC_CHECK=0 and 1 (uafwrite.mode0, uafwrite.mode1): the freed blocks come
# back in order, the forged address is never returned, the heap works (END),
# and nothing is printed on stderr.
# Usage: bash tests/c/uafwrite.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_single uafwrite

for mode in 0 1; do
	name=uafwrite.mode$mode
	wanted "$name" || continue
	run_capture "$name" 1 env FT_MALLOC_CHECK=$mode "$BIN"
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q '^END$' "$LAST_OUT"; then
		fail "$name" "$(reason $rc "$LAST_ERR"): $(grep FAIL "$LAST_OUT" | head -n1)"
	elif [ -s "$LAST_ERR" ]; then
		fail "$name" "want nothing on stderr, got: $(head -n1 "$LAST_ERR")"
	else
		pass "$name"
	fi
done
finish
