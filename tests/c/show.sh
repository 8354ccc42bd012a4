#!/usr/bin/env bash
# show.sh - show_alloc_mem() output format and content.
#
# show.c is linked with -L<dir of FT_MALLOC_SO> -l:<its name> (-lft_malloc for
# libft_malloc.so) and an rpath, not preloaded; each sub-test's stdout is
# checked by showcheck.c against the EXPECT lines it wrote to stderr (format
# regexes, address order, sizes, kinds, Total).  See those two files.
# Usage: bash tests/c/show.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib show
DIR="$TESTS_ROOT/c"
LIBDIR=$(dirname "$FT_MALLOC_SO")
LIBNAME=$(basename "$FT_MALLOC_SO")
CHECKER="$BUILD/c/showcheck"
BIN="$BUILD/c/show"

build "$CHECKER" -I"$REPO_ROOT/include" "$DIR/showcheck.c" || finish
build "$BIN" -I"$REPO_ROOT/include" "$DIR/show.c" -L"$LIBDIR" -l:"$LIBNAME" \
	-Wl,-rpath,"$LIBDIR" -ldl || finish

if ! list=$("$BIN" --list 2>&1) || [ -z "$list" ]; then
	fail show "cannot run $BIN linked with $FT_MALLOC_SO: $(echo "$list" | tail -n1)"
	finish
fi
for t in $list; do
	name="show.$t"
	wanted "$name" || continue
	run_capture "$name" 0 "$BIN" "$t"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "$(reason $rc "$LAST_ERR")"
	elif why=$("$CHECKER" "$LAST_OUT" "$LAST_ERR" 2>&1); then
		pass "$name"
	else
		fail "$name" "$why (see $LAST_OUT)"
	fi
done
finish
