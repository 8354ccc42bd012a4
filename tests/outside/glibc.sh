#!/usr/bin/env bash
# glibc.sh - glibc's own malloc tests (tests/outside/glibc, see its README.md) on ft_malloc.
#
# Builds each test as a standalone program and runs it with LD_PRELOAD; glibc's shim
# self-tests first show that a failing check fails a test. Prints "PASS glibc.NAME" /
# "FAIL glibc.NAME: reason" / "SKIP ..." per test.
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

SRC="$TESTS_ROOT/outside/glibc"
OUT="$BUILD/outside/glibc"
mkdir -p "$OUT"
require_lib setup
CFLAGS="-std=gnu11 -O2 -g -fno-builtin -D_GNU_SOURCE -pthread -I$SRC -Wno-deprecated-declarations -Wno-unused-result"
# The tests take up to half a minute each on a loaded machine (tst-malloc-tcache-leak: 100,000
# threads).
TIMEOUT=${FT_TEST_TIMEOUT:-180}

# The shim: a passing test exits 0, each kind of failure exits non-zero.
for f in "$SRC"/selftest/tst-shim-*.c; do
	n=$(basename "$f" .c)
	wanted "glibc.$n" || continue
	build "$OUT/$n" "$f" || continue
	run_capture "glibc.$n" 0 "$OUT/$n"
	rc=$?
	case $n in
	tst-shim-pass) [ $rc -eq 0 ] && pass "glibc.$n" || fail "glibc.$n" "a passing test exited $rc" ;;
	*) [ $rc -ne 0 ] && [ $rc -lt 124 ] && pass "glibc.$n" || fail "glibc.$n" "a failing check exited $rc" ;;
	esac
done

# The preload must take: malloc resolves to the library under test.
cat >"$OUT/which.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
int main(void) { Dl_info i; dladdr(dlsym(RTLD_DEFAULT, "malloc"), &i); puts(i.dli_fname); return 0; }
C
if $CC -o "$OUT/which" "$OUT/which.c" -ldl &&
	[ "$(LD_PRELOAD=$FT_MALLOC_SO "$OUT/which")" = "$FT_MALLOC_SO" ]; then
	:
else
	fail glibc.preload "malloc does not resolve to $FT_MALLOC_SO under LD_PRELOAD"
	finish
fi

# From a directory of their own: some write temporary files.
cd "$OUT" || exit 1
for f in "$SRC"/malloc/tst-*.c; do
	n=$(basename "$f" .c)
	wanted "glibc.$n" || continue
	case $n in
	tst-malloc-usable | tst-malloc-stats-cancellation)
		echo "SKIP glibc.$n: an intended difference (tests/outside/glibc/README.md)"
		continue
		;;
	esac
	build "$OUT/$n" "$f" || continue
	run_case "glibc.$n" 1 "$OUT/$n"
done
finish
