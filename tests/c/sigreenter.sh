#!/usr/bin/env bash
# sigreenter.sh - a signal handler that re-enters the allocator (sigreenter.c):
# the run ends, by exit 0 or by SIGABRT with ft_malloc's message that the thread
# called the allocator again while holding one of its locks; a hang (the old
# behaviour: a spin for ever) or any other signal fails.
# Usage: bash tests/c/sigreenter.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib sigreenter
unset FT_MALLOC_CHECK FT_MALLOC_SCRIBBLE FT_MALLOC_GUARD FT_MALLOC_STATS FT_MALLOC_LOG \
	FT_MALLOC_HISTORY FT_MALLOC_REPORT
BIN="$BUILD/c/sigreenter"
build "$BIN" "$TESTS_ROOT/c/sigreenter.c" || { finish; exit 1; }

name=sigreenter.handler
if wanted "$name"; then
	TIMEOUT=60 run_capture "$name" 1 "$BIN"
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^END ' "$LAST_OUT"; then
		pass "$name"
	elif [ $rc -eq 134 ] && grep -q 'called the allocator again while it was inside it' "$LAST_ERR"; then
		pass "$name"
	else
		fail "$name" "$(reason $rc "$LAST_ERR")"
	fi
fi
finish
