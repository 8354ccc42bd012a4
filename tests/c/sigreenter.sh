#!/usr/bin/env bash
# sigreenter.sh - a signal handler that re-enters the allocator (sigreenter.c):
# the run ends, by exit 0 or by SIGABRT with ft_malloc's message that the thread
# called the allocator again while holding one of its locks; a hang (the old
# behaviour: a spin for ever) or any other signal fails.
# Usage: bash tests/c/sigreenter.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_single sigreenter

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
