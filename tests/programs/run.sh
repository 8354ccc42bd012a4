#!/usr/bin/env bash
# Real-program tests: run each program twice, once on the system allocator
# (glibc malloc) and once with LD_PRELOAD=$FT_MALLOC_SO, and require the same
# stdout (byte for byte) and the same exit status.
#
#   bash tests/programs/run.sh            # from the repo root
#   FT_MALLOC_SO=/path/to/lib.so bash tests/programs/run.sh [test...]
#
# Work files go to tests/build/programs/ (kept after the run for inspection:
# tests/build/programs/<test>/{sys,ft}.{out,err,rc} and the run directories).
# Installs nothing; needs python3, perl, gcc, git, sqlite3, xz, php-cli, coreutils.
set -uo pipefail
export LC_ALL=C LANG=C
unset LANGUAGE LD_PRELOAD MALLOC_CONF

SO=${FT_MALLOC_SO:-$PWD/libft_malloc.so}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=$ROOT/tests/build/programs
IN=$W/inputs
TMO=${TIMEOUT:-120}

if [ ! -f "$SO" ]; then
    echo "FAIL setup: allocator library '$SO' not found (run make, or set FT_MALLOC_SO)"
    exit 1
fi
SO_ARG=$(realpath "$SO")
PY=$(python3 -c 'import sys; print(sys.executable)') || { echo "FAIL setup: python3 not found"; exit 1; }
mkdir -p "$W/lib"
# Test a private snapshot of the library: a rebuild (make's cp rewrites the .so
# in place) while a preloaded program runs would otherwise crash it (SIGBUS).
SO=$W/lib/$(basename "$SO_ARG")
rm -f "$SO"
cp "$SO_ARG" "$SO"

# ---------------------------------------------------------------------------
# Inputs (generated without preload, cached while the generator is unchanged)
stamp=$(cat "$HERE/gen_inputs.py" | sha256sum | cut -c1-16)
if [ "$(cat "$IN/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$IN"
    mkdir -p "$IN"
    if ! "$PY" "$HERE/gen_inputs.py" "$IN"; then
        echo "FAIL setup: input generation failed"
        exit 1
    fi
    head -c 30000000 "$IN/text.txt" >"$IN/xz.txt"
    echo "$stamp" >"$IN/.stamp"
fi

# ---------------------------------------------------------------------------
# Tests. Each t_NAME runs in its own empty directory, with `set -e`; every
# program under test is started as `P prog args...`: P runs it under
# `timeout` (all programs of one test share one $TMO-second budget per run),
# with LD_PRELOAD=$SO in the "ft" run and without it in the "sys" run.
# Helpers that are not under test (sha256sum, cp, ...) run without preload.
# Everything written to stdout is compared.
P() {
    local left=$((DEADLINE - SECONDS))
    [ "$left" -ge 1 ] || left=1
    local rc=0
    if [ "$MODE" = ft ]; then
        timeout -k 10 "$left" env LD_PRELOAD="$SO" "$@" || rc=$?
    else
        timeout -k 10 "$left" "$@" || rc=$?
    fi
    [ "$rc" -eq 0 ] || echo "run.sh: [$MODE] rc=$rc ($(rc_text "$rc")) from: $*" >&2
    return "$rc"
}

t_python() {
    PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
        P "$PY" "$HERE/workload.py"
}

# PHP loads its extensions (pdo, phar, tokenizer, ...) with dlopen(RTLD_DEEPBIND), which
# binds their malloc and free to libc's unless ft_malloc's dlopen drops the flag.
t_php() {
    P php -m
    P php -r '
        $a = [];
        for ($i = 0; $i < 300000; $i++) { $a[] = str_repeat(chr(97 + $i % 26), $i % 200) . $i; }
        usort($a, fn($x, $y) => strlen($x) <=> strlen($y) ?: strcmp($x, $y));
        $h = [];
        foreach ($a as $k => $v) { $h[md5($v)] = $k; }
        ksort($h);
        echo count($a), " ", md5(serialize(array_slice($a, 0, 5000))), " ", md5(json_encode(array_slice($h, 0, 5000))), "\n";
        echo count(token_get_all("<?php function f(\$x) { return \$x * 2; } echo f(21);")), "\n";
        echo preg_replace_callback("/[aeiou]+/", fn($m) => strtoupper($m[0]), str_repeat("allocation ", 1000)) === str_repeat("AllOcAtIOn ", 1000) ? "ok\n" : "bad\n";
    '
}

t_sort() {
    local f=$IN/text.txt
    P sort "$f" >a
    P sort --parallel=2 -S 100M "$f" >b
    P sort -S 5M -t ' ' -k2,2 -k1,1n -s "$f" >c
    P sort -u -r "$f" >d
    P sort -c a
    sha256sum a b c d
    wc -l <d
    head -3 c
}

t_xz() {
    P xz -T2 -1 --block-size=4MiB -c "$IN/xz.txt" >x.xz
    sha256sum x.xz
    P xz -T2 -dc x.xz >rt
    sha256sum rt
    cmp rt "$IN/xz.txt" && echo round-trip-ok
    P xz -l --robot x.xz | grep -v '^totals' | cut -f1-6
    P xz -t x.xz && echo test-ok
}

t_sqlite() {
    P sqlite3 -batch db.sqlite <"$IN/orders.sql"
    P sqlite3 -batch db.sqlite 'VACUUM; PRAGMA integrity_check; SELECT count(*) FROM big;'
}

t_perl() {
    PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 P perl "$HERE/workload.pl"
}

t_gcc() {
    cp "$IN/big.c" big.c
    P gcc -O2 -o big big.c
    P ./big
    P gcc -O2 -S -o - big.c
}

t_git() {
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME=Ada GIT_AUTHOR_EMAIL=ada@example.org
    export GIT_COMMITTER_NAME=Bob GIT_COMMITTER_EMAIL=bob@example.org
    export GIT_PAGER=cat PAGER=cat TZ=UTC
    P git init -q -b main repo
    cd repo
    local k
    for k in 1 2 3 4 5; do
        find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
        cp -r "$IN/git/c$k/." .
        export GIT_AUTHOR_DATE="170000${k}000 +0000" GIT_COMMITTER_DATE="170000${k}500 +0000"
        P git add -A
        P git commit -q -m "commit $k" -m "snapshot c$k of the generated tree"
        if [ "$k" = 3 ]; then
            P git tag -a -m "v1" v1
            P git checkout -q -b side
            printf 'side branch line\n' >>docs/side.txt
            P git add -A
            P git commit -q -m "side"
            P git checkout -q main
        fi
    done
    P git merge -q --no-edit side
    P git rev-parse HEAD HEAD~1 v1 side
    P git log --stat -M --format='%H %an %ad %s' --date=raw
    P git diff --stat -M v1 HEAD
    P git diff v1~1 HEAD | sha256sum
    P git gc -q
    P git fsck --full --strict --no-progress
    P git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
    P git rev-list --objects --all | sort | sha256sum
    P git ls-tree -r -l HEAD | sha256sum
    # (no pipes into head: an early-closing reader would make rc racy)
    P git grep -c -e 'fn ab' -e 'return' HEAD -- src >grep.txt
    sed -n 1,20p grep.txt
    P git blame -s --abbrev=12 "$(git ls-files | grep renamed | sed -n 1p)" >blame.txt
    sed -n 1,20p blame.txt
    P git archive --format=tar HEAD | sha256sum
    P git rev-parse HEAD
}

t_ls() {
    P ls -R /usr/share
    P ls -laR --time-style=full-iso /usr/share/doc /usr/include
}

# Check that the allocator's functions really are what programs call
# (binding of malloc & co. to the preloaded library, never to libc).
t_bindings() {
    local syms='malloc|free|calloc|realloc|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size'
    local prog bad ok=0 n s
    for prog in sort python; do
        if [ "$prog" = sort ]; then
            LD_BIND_NOW=1 LD_DEBUG=bindings LD_DEBUG_OUTPUT=$PWD/ld.$prog LD_PRELOAD="$SO" \
                timeout "$TMO" sort --version >/dev/null
        else
            LD_BIND_NOW=1 LD_DEBUG=bindings LD_DEBUG_OUTPUT=$PWD/ld.$prog LD_PRELOAD="$SO" PYTHONMALLOC=malloc \
                timeout "$TMO" "$PY" -c 'import json, sqlite3, hashlib, ssl, ctypes, zlib, lzma, decimal' >/dev/null
        fi
        cat ld."$prog".* >ld."$prog"
        # the main program itself must bind malloc and free to the library
        for s in malloc free; do
            # (grep -c, not -q: an early exit would SIGPIPE the writer under pipefail)
            n=$(grep -F " to $SO [0]: normal symbol \`$s'" ld."$prog" | grep -cE "binding file [^ ]*$prog" || true)
            if [ "${n:-0}" -gt 0 ]; then
                ok=$((ok + 1))
            else
                echo "$prog: $s is not bound to $SO" >&2
                return 1
            fi
        done
        # ... and nothing at all may bind an allocator symbol elsewhere
        bad=$(grep -E "normal symbol \`($syms)'" ld."$prog" | grep -vF " to $SO [0]: " || true)
        if [ -n "$bad" ]; then
            echo "$prog: allocator symbols bound outside $SO (mixing allocators):" >&2
            echo "$bad" | sed 's/^ *[0-9]*:[[:space:]]*//' | sort -u | head -20 >&2
            return 1
        fi
    done
    # and the library is mapped in a preloaded process
    LD_PRELOAD="$SO" cat /proc/self/maps >maps
    grep -qF "$SO" maps || { echo "library not mapped in a preloaded process" >&2; return 1; }
    echo "bindings ok ($ok)"
}

ALL=(python sort xz sqlite perl gcc git ls php)

# ---------------------------------------------------------------------------
failed=0
npass=0
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

show_tail() { # file [n]
    [ -s "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    | /'
    return 0
}

rc_text() {
    case $1 in
        124) echo "timed out: over the ${TMO}s budget (rc 124)" ;;
        137) echo "killed after timeout (rc 137)" ;;
        13[0-9] | 1[4-9][0-9]) echo "killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null))" ;;
        *) echo "exit status $1" ;;
    esac
}

run_mode() { # name mode
    local name=$1 mode=$2 d=$W/$1
    rm -rf "${d:?}/$mode"
    mkdir -p "$d/$mode/tmp"
    local t0=$EPOCHREALTIME
    (
        set -e
        MODE=$mode
        DEADLINE=$((SECONDS + TMO))
        cd "$d/$mode"
        export TMPDIR=$d/$mode/tmp
        "t_$name"
    ) >"$d/$mode.out" 2>"$d/$mode.err" </dev/null
    echo $? >"$d/$mode.rc"
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }' >"$d/$mode.time"
}

hint() {
    echo "    reproduce: FT_MALLOC_SO=$SO_ARG bash tests/programs/run.sh $1   (logs: ${W#"$ROOT"/}/$1/)"
}

run_test() {
    local name=$1 d=$W/$1
    mkdir -p "$d"
    run_mode "$name" sys
    run_mode "$name" ft
    local rs rf
    rs=$(cat "$d/sys.rc")
    rf=$(cat "$d/ft.rc")
    if [ "$rs" != 0 ]; then
        fail "$name" "baseline run without LD_PRELOAD failed: $(rc_text "$rs") (environment problem?)"
        show_tail "$d/sys.err"
        hint "$name"
    elif grep -q 'cannot be preloaded' "$d/ft.err"; then
        fail "$name" "LD_PRELOAD=$SO was ignored by the dynamic loader"
        show_tail "$d/ft.err" 5
        hint "$name"
    elif [ "$rf" != "$rs" ]; then
        fail "$name" "with LD_PRELOAD: $(rc_text "$rf"), expected exit status $rs; stderr:"
        show_tail "$d/ft.err" 20
        hint "$name"
    elif ! cmp -s "$d/sys.out" "$d/ft.out"; then
        fail "$name" "stdout differs (glibc: $d/sys.out, preload: $d/ft.out):"
        diff "$d/sys.out" "$d/ft.out" | head -20 | sed 's/^/    | /'
        show_tail "$d/ft.err" 10
        hint "$name"
    else
        echo "PASS $name (glibc $(cat "$d/sys.time"), preload $(cat "$d/ft.time"))"
        npass=$((npass + 1))
    fi
}

tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(bindings "${ALL[@]}")
echo "programs: allocator $SO_ARG (snapshot: ${SO#"$ROOT"/})"
for t in "${tests[@]}"; do
    if ! declare -F "t_$t" >/dev/null; then
        fail "$t" "no such test (have: bindings ${ALL[*]})"
        continue
    fi
    if [ "$t" = bindings ]; then
        d=$W/bindings
        rm -rf "$d"
        mkdir -p "$d/run"
        (set -e; cd "$d/run"; t_bindings) >"$d/out" 2>"$d/err" </dev/null
        rc=$?
        if [ $rc -eq 0 ]; then
            echo "PASS bindings"
            npass=$((npass + 1))
        else
            fail bindings "$(rc_text $rc):"
            show_tail "$d/err" 20
            hint bindings
        fi
        continue
    fi
    run_test "$t"
done
echo "programs: $npass passed, $failed failed"
[ "$failed" -eq 0 ]
