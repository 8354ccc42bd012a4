#!/usr/bin/env bash
# bindings.sh - the library really interposes the malloc family.
#
#   bind.exports   `nm -D --defined-only` lists every API function as T
#   bind.ls        LD_DEBUG=bindings: /bin/ls's (and libc's) malloc and free
#                  bind to the library
#   bind.all       LD_BIND_NOW=1 LD_DEBUG=bindings on a program that uses every
#                  function: each one binds to the library
# Usage: bash tests/c/bindings.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib bind
DIR="$TESTS_ROOT/c"
mkdir -p "$BUILD/logs"

EXPORTS="malloc free realloc calloc reallocarray reallocf posix_memalign aligned_alloc
memalign valloc pvalloc malloc_usable_size show_alloc_mem"

# Names the dynamic linker may print for the library: the path given, the
# file it points to, with or without directories.
lib_re() {
	local a b
	a=$(basename "$FT_MALLOC_SO")
	b=$(basename "$(readlink -f "$FT_MALLOC_SO")")
	printf '(%s|%s)' "$(printf '%s' "$a" | sed 's/[.[\*^$+?(){}|]/\\&/g')" \
		"$(printf '%s' "$b" | sed 's/[.[\*^$+?(){}|]/\\&/g')"
}
LIBRE=$(lib_re)

# check_bound LOG NAME...: every NAME has a binding line, and all of them go
# to the library.  Prints the first problem, if any.
check_bound() {
	local log=$1 sym
	shift
	for sym in "$@"; do
		if ! grep -Eq "normal symbol \`$sym'" "$log"; then
			echo "no binding of $sym found"
			return 1
		fi
		if grep -E "normal symbol \`$sym'" "$log" | grep -Evq "to [^ ]*$LIBRE \["; then
			echo "$sym bound elsewhere: $(grep -E "normal symbol \`$sym'" "$log" |
				grep -Ev "to [^ ]*$LIBRE \[" | head -n1 | sed 's/^ *[0-9]*: *//')"
			return 1
		fi
	done
	return 0
}

if wanted bind.exports; then
	if ! command -v nm >/dev/null 2>&1; then
		fail bind.exports "nm not installed (binutils)"
	else
		syms=$(nm -D --defined-only "$FT_MALLOC_SO" 2>&1)
		missing=
		for s in $EXPORTS; do
			echo "$syms" | grep -Eq "^[0-9a-f]+ T $s(@.*)?\$" || missing="$missing $s"
		done
		if [ -z "$missing" ]; then
			pass bind.exports
		else
			fail bind.exports "not exported as T by nm -D --defined-only:$missing"
		fi
	fi
fi

if wanted bind.ls; then
	log="$BUILD/logs/bind.ls.log"
	{
		timeout 20 env LD_DEBUG=bindings LD_PRELOAD="$FT_MALLOC_SO" /bin/ls / >/dev/null 2>"$log"
		rc=$?
	} 2>/dev/null
	if [ $rc -ne 0 ]; then
		fail bind.ls "ls with the library preloaded: $(reason $rc /dev/null)"
	elif why=$(check_bound "$log" malloc free); then
		pass bind.ls
	else
		fail bind.ls "$why"
	fi
fi

if wanted bind.all; then
	BIN="$BUILD/c/bindings"
	if build "$BIN" "$DIR/bindings.c"; then
		log="$BUILD/logs/bind.all.log"
		{
			timeout 20 env LD_BIND_NOW=1 LD_DEBUG=bindings LD_PRELOAD="$FT_MALLOC_SO" "$BIN" \
				>/dev/null 2>"$log"
			rc=$?
		} 2>/dev/null
		if [ $rc -ne 0 ]; then
			fail bind.all "$(reason $rc /dev/null)"
		elif why=$(check_bound "$log" $EXPORTS); then
			pass bind.all
		else
			fail bind.all "$why"
		fi
	fi
fi
finish
