#!/usr/bin/env bash
# ft_malloc benchmark suite: compares ft_malloc with glibc, jemalloc, mimalloc
# and tcmalloc on small C workloads (bench/*.c), real programs (python3,
# sqlite3, redis-server), instruction counts of the malloc/free hot path
# (callgrind) and RSS decay after a large free.
#
#   bash bench/run.sh           full run (5 rounds, BENCH_ROUNDS=n for another count;
#                               ~4 min on 2 cores) -> bench/results.md
#   bash bench/run.sh --quick   smoke run (1 round, ~1 min)             -> bench/results-quick.md
#
# Environment: FT_MALLOC_SO  the ft_malloc library (default: ./libft_malloc.so, built by `make`)
#              CC            C compiler (default: gcc)
# Everything compiled or generated goes to bench/build/. Nothing is installed:
# comparison allocators and optional programs that are missing are skipped
# with a note (Debian: apt-get install libjemalloc2 libmimalloc2.0
# libtcmalloc-minimal4 valgrind time sqlite3 redis-server).
set -u

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
BENCH=$ROOT/bench
BUILD=$BENCH/build

QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "usage: bash bench/run.sh [--quick]" >&2; exit 2 ;;
esac

if [ "$QUICK" = 1 ]; then
    MODE=quick; ROUNDS=1; TMO=60; OUT_MD=$BENCH/results-quick.md
else
    MODE=full; ROUNDS=${BENCH_ROUNDS:-5}; TMO=180; OUT_MD=$BENCH/results.md
fi
DATA=$BUILD/$MODE
TMP=$BUILD/tmp
LOGS=$DATA/logs
rm -rf "$DATA" "$TMP"
mkdir -p "$DATA" "$TMP" "$LOGS" || exit 1
NOTES=$DATA/notes.txt
: >"$NOTES"
note() { echo "note: $*" >&2; echo "$*" >>"$NOTES"; }
T_START=$(date +%s)

# ---------------------------------------------------------------- tools
CC=${CC:-gcc}
need() { command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required ($2)" >&2; exit 1; }; }
need "$CC" "to compile the workloads"
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is required (Debian: apt-get install time)" >&2; exit 1; }
need timeout "coreutils"
need awk "to generate the sqlite script"
# python3 writes the report; prefer the system interpreter over shims (pyenv...)
PY=""
for c in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] && { PY=$("$c" -c 'import sys; print(sys.executable)' 2>/dev/null) && break; }
done
[ -n "$PY" ] || { echo "error: python3 is required (it writes the report)" >&2; exit 1; }

# ---------------------------------------------------------------- allocators
. "$BENCH/allocators.sh"
find_allocators
FT_SRC=${FT_MALLOC_SO:-$ROOT/libft_malloc.so}
if [ ! -e "$FT_SRC" ]; then
    echo "error: $FT_SRC not found; run 'make' first (or set FT_MALLOC_SO)" >&2
    exit 1
fi
# Work on a private copy: a rebuild of the library while the benchmark runs
# would otherwise rewrite the mapped file under running processes (SIGBUS).
mkdir -p "$BUILD/lib"
cp -L "$FT_SRC" "$BUILD/lib/libft_malloc.so" || exit 1
ALLOCS+=(ft_malloc); PRE[ft_malloc]=$BUILD/lib/libft_malloc.so

# ---------------------------------------------------------------- build
echo "== building workloads into bench/build ($CC -O2)"
CFLAGS="-O2 -g -Wall -pthread"
for w in churn ring prodcons larson cache mstress realloc large rss_decay; do
    $CC $CFLAGS -o "$BUILD/$w" "$BENCH/$w.c" || { echo "error: build of $w failed" >&2; exit 1; }
done
# hotpath: no builtin malloc knowledge, so every call really goes through the PLT
$CC -O2 -g -Wall -fno-builtin -o "$BUILD/hotpath" "$BENCH/hotpath.c" || exit 1

# ---------------------------------------------------------------- parameters
if [ "$QUICK" = 1 ]; then
    P_CHURN=(8); P_RING=(1 20000 1000); P_PRODCONS=(8 2); P_LARSON=(60 4 2000 20000)
    P_THRASH=(thrash 1200 2 10000); P_SCRATCH=(scratch 1200 2 10000); P_MSTRESS=(10 8 50)
    P_REALLOC=(2); P_LARGE=(100); P_PY=1; P_SQL=50000; P_REDIS=20000
    HOT_N=100000; HOT_WARM=50000; DECAY=(256 1000)
else
    P_CHURN=(30); P_RING=(3 20000 1000); P_PRODCONS=(30 2); P_LARSON=(200 4 2000 20000)
    P_THRASH=(thrash 3000 2 10000); P_SCRATCH=(scratch 3000 2 10000); P_MSTRESS=(30 8 50)
    P_REALLOC=(8); P_LARGE=(400); P_PY=2; P_SQL=500000; P_REDIS=100000
    HOT_N=500000; HOT_WARM=200000; DECAY=(1024 2000)
fi

# ---------------------------------------------------------------- runner
RES=$DATA/results.tsv   # workload alloc round status wall_s rss_kb cpu_s extra
printf 'workload\talloc\tround\tstatus\twall_s\trss_kb\tcpu_s\textra\n' >"$RES"
declare -A REF         # reference stdout (first successful run) per workload

now_ns() { date +%s%N; }

# record WORKLOAD ALLOC ROUND STATUS WALL RSS CPU EXTRA
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RES"; }
cpu_of() { time_line "$1" | awk 'NF >= 4 { printf "%.2f", $3 + $4 }'; }

# time_line FILE -> "elapsed maxrss" (GNU time may prepend "Command exited/terminated ...")
time_line() { tail -n 1 "$1" 2>/dev/null; }

# check_output WORKLOAD ALLOC ROUND FILE: compares stdout (minus "throughput:" lines)
# with the reference; prints the status
check_output() {
    local w=$1 a=$2 r=$3 f=$4 got
    got=$(grep -v '^throughput:' "$f")
    if [ -z "${REF[$w]+x}" ]; then REF[$w]=$got; echo ok; return; fi
    if [ "$got" = "${REF[$w]}" ]; then echo ok; else
        cp "$f" "$LOGS/$w.$a.$r.wrong-stdout"
        printf '%s\n' "${REF[$w]}" >"$LOGS/$w.expected-stdout"
        echo WRONG
    fi
}

# run_cmd WORKLOAD ALLOC ROUND STDIN -- COMMAND...   (ENVX: extra env assignments)
ENVX=()
run_cmd() {
    local w=$1 a=$2 r=$3 in=$4; shift 5
    local pre=${PRE[$a]} out=$TMP/out err=$TMP/err tf=$TMP/time t0 t1 rc st
    t0=$(now_ns)
    /usr/bin/time -f "%e %M %U %S" -o "$tf" timeout -k 5 "$TMO" \
        env -u LD_PRELOAD ${pre:+LD_PRELOAD=$pre} "${ENVX[@]}" "$@" <"$in" >"$out" 2>"$err"
    rc=$?
    t1=$(now_ns)
    local wall rss extra=""
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    rss=$(time_line "$tf" | awk '{ print $2 }')
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then st=TIMEOUT
    elif [ "$rc" != 0 ]; then st="FAIL(rc=$rc)"
    else st=$(check_output "$w" "$a" "$r" "$out"); fi
    if [ "$st" != ok ]; then
        cp "$out" "$LOGS/$w.$a.$r.stdout"; cp "$err" "$LOGS/$w.$a.$r.stderr"; cp "$tf" "$LOGS/$w.$a.$r.time"
        note "$w under $a (round $r): $st -- logs in bench/build/$MODE/logs/$w.$a.$r.*"
    fi
    extra=$(awk '/^throughput:/ { print $2 "_" $3 }' "$out")
    record "$w" "$a" "$r" "$st" "$wall" "${rss:-0}" "$(cpu_of "$tf")" "$extra"
}

# progress line: medians of the workload's runs so far
progress() {
    local w=$1
    awk -F'\t' -v w="$w" '
        $1 == w && $4 == "ok" { t[$2] = t[$2] " " $5 }
        $1 == w && $4 != "ok" { bad[$2] = $4 }
        END {
            n = split(order, o, " ")
            line = sprintf("  %-14s", w)
            for (i = 1; i <= n; i++) {
                a = o[i]
                if (a in bad) { line = line sprintf(" %s=%s", a, bad[a]); continue }
                if (!(a in t)) continue
                m = split(substr(t[a], 2), v, " ")
                for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (v[y] + 0 < v[x] + 0) { s = v[x]; v[x] = v[y]; v[y] = s }
                med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
                line = line sprintf(" %s=%.2fs", a, med)
            }
            print line
        }' order="${ALLOCS[*]}" "$RES"
}

WORKLOADS=()
declare -A CMD STDIN_OF ENV_OF
add() { WORKLOADS+=("$1"); STDIN_OF[$1]=$2; ENV_OF[$1]=$3; shift 3; CMD[${WORKLOADS[-1]}]=$(printf '%q ' "$@"); }

add churn         /dev/null "" "$BUILD/churn" "${P_CHURN[@]}"
add ring          /dev/null "" "$BUILD/ring" "${P_RING[@]}"
add prodcons      /dev/null "" "$BUILD/prodcons" "${P_PRODCONS[@]}"
add larson        /dev/null "" "$BUILD/larson" "${P_LARSON[@]}"
add cache-thrash  /dev/null "" "$BUILD/cache" "${P_THRASH[@]}"
add cache-scratch /dev/null "" "$BUILD/cache" "${P_SCRATCH[@]}"
add mstress       /dev/null "" "$BUILD/mstress" "${P_MSTRESS[@]}"
add realloc       /dev/null "" "$BUILD/realloc" "${P_REALLOC[@]}"
add large         /dev/null "" "$BUILD/large" "${P_LARGE[@]}"
add python3       /dev/null "PYTHONMALLOC=malloc PYTHONHASHSEED=0" "$PY" "$BENCH/py_workload.py" "$P_PY"
if command -v sqlite3 >/dev/null 2>&1; then
    SQL=$BUILD/sqlite-$P_SQL.sql
    [ -s "$SQL" ] || awk -v N="$P_SQL" -f "$BENCH/sqlite_gen.awk" >"$SQL" || exit 1
    add sqlite3 "$SQL" "" "$(command -v sqlite3)" -batch
else
    note "sqlite3 not installed; sqlite3 workload skipped"
fi

N_ALLOC=${#ALLOCS[@]}
echo "== $MODE run: ${ROUNDS} round(s), allocators: ${ALLOCS[*]}"

# ---------------------------------------------------------------- C workloads and programs
for w in "${WORKLOADS[@]}"; do
    read -r -a ENVX <<<"${ENV_OF[$w]}"
    eval "set -- ${CMD[$w]}"
    for r in $(seq 1 "$ROUNDS"); do
        for a in "${ALLOCS[@]}"; do
            run_cmd "$w" "$a" "$r" "${STDIN_OF[$w]}" -- "$@"
        done
    done
    progress "$w"
done
ENVX=()

# ---------------------------------------------------------------- redis
# redis-server is started under each allocator (Debian's build links jemalloc,
# so the glibc column preloads libc.so.6 to put glibc's malloc first), and
# redis-benchmark (never preloaded) drives it over a unix socket.
if command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; then
    REDIS_GLIBC_PRE=""
    if ldd "$(command -v redis-server)" 2>/dev/null | grep -Eq 'jemalloc|tcmalloc|mimalloc'; then
        REDIS_GLIBC_PRE=$($CC -print-file-name=libc.so.6)
        [ -e "$REDIS_GLIBC_PRE" ] && REDIS_GLIBC_PRE=$(readlink -f "$REDIS_GLIBC_PRE") || REDIS_GLIBC_PRE=""
        note "redis-server is linked with $(ldd "$(command -v redis-server)" | grep -Eo 'lib(je|tc|mi)malloc[^ ]*' | head -1); its glibc column preloads ${REDIS_GLIBC_PRE:-nothing (libc.so.6 not found: the glibc column is that linked allocator)}"
    fi
    run_redis() {
        local a=$1 r=$2 pre=${PRE[$1]} d tf t0 t1 rc st=ok extra="" i pid
        [ "$a" = glibc ] && pre=$REDIS_GLIBC_PRE
        d=$(mktemp -d /tmp/ftbench-redis.XXXXXX) || return
        tf=$d/time
        /usr/bin/time -f "%e %M %U %S" -o "$tf" timeout -k 5 "$TMO" env -u LD_PRELOAD ${pre:+LD_PRELOAD=$pre} \
            redis-server --port 0 --unixsocket "$d/sock" --save "" --appendonly no --daemonize no \
            --dir "$d" --pidfile "$d/pid" --logfile "$d/log" </dev/null >/dev/null 2>&1 &
        pid=$!
        for i in $(seq 100); do [ -S "$d/sock" ] && break; sleep 0.1; done
        t0=$(now_ns)
        env -u LD_PRELOAD timeout "$TMO" redis-benchmark -s "$d/sock" -n "$P_REDIS" -P 16 -r 100000 -d 100 \
            -t set,get,lpush,lpop -q --csv >"$d/out" 2>"$d/err"
        t1=$(now_ns)
        if command -v redis-cli >/dev/null 2>&1; then
            env -u LD_PRELOAD redis-cli -s "$d/sock" shutdown nosave >/dev/null 2>&1
        fi
        [ -s "$d/pid" ] && kill -TERM "$(cat "$d/pid")" 2>/dev/null
        wait "$pid"; rc=$?
        extra=$(awk -F'"?,"?' '/^"(SET|GET|LPUSH|LPOP)"/ { gsub(/"/, ""); printf "%s%s=%s", sep, $1, $2; sep = ";" }' "$d/out")
        [ "$(echo "$extra" | tr ';' '\n' | grep -c '=')" = 4 ] || st=FAIL
        [ "$rc" != 0 ] && st="FAIL(rc=$rc)"
        if [ "$st" != ok ]; then
            for f in out err log time; do [ -e "$d/$f" ] && cp "$d/$f" "$LOGS/redis.$a.$r.$f"; done
            note "redis under $a (round $r): $st -- logs in bench/build/$MODE/logs/redis.$a.$r.*"
        fi
        record redis "$a" "$r" "$st" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')" \
            "$(time_line "$tf" | awk '{ print $2 }')" "$(cpu_of "$tf")" "$extra"
        rm -rf "$d"
    }
    for r in $(seq 1 "$ROUNDS"); do
        for a in "${ALLOCS[@]}"; do run_redis "$a" "$r"; done
    done
    progress redis
else
    note "redis-server/redis-benchmark not installed; redis workload skipped"
fi

# ---------------------------------------------------------------- RSS decay
echo "== rss_decay (${DECAY[0]} MiB peak, ${DECAY[1]} ms of light activity after the free)"
DEC=$DATA/rss_decay.tsv
: >"$DEC"
for a in "${ALLOCS[@]}"; do
    f=$DATA/rss_decay.$a.txt
    pre=${PRE[$a]}
    timeout -k 5 "$TMO" env -u LD_PRELOAD ${pre:+LD_PRELOAD=$pre} "$BUILD/rss_decay" "${DECAY[@]}" >"$f" 2>"$LOGS/rss_decay.$a.stderr"
    rc=$?
    if [ "$rc" != 0 ]; then
        note "rss_decay under $a: exit $rc -- see bench/build/$MODE/logs/rss_decay.$a.stderr"
    else
        [ -s "$LOGS/rss_decay.$a.stderr" ] || rm -f "$LOGS/rss_decay.$a.stderr"
    fi
    awk -v a="$a" -v rc="$rc" '
        /^# peak_rss_kb/ { peak = $3; next }
        { v[$1] = $2 }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a, (rc == 0 ? "ok" : "FAIL(rc=" rc ")"), peak, v[0], v[100], v[500], v[1000], v[2000] }' "$f" >>"$DEC"
    awk -F'\t' -v a="$a" '$1 == a { printf "  %-10s peak %7.1f MiB   t=0 %7.1f MiB   t=1s %7.1f MiB\n", a, $3 / 1024, $4 / 1024, $7 / 1024 }' "$DEC"
done

# ---------------------------------------------------------------- hot path (callgrind)
HOT=$DATA/hotpath.tsv
: >"$HOT"
if command -v valgrind >/dev/null 2>&1; then
    echo "== hot path: callgrind, $HOT_N malloc+free pairs per pattern"
    ir_of() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
    for a in "${ALLOCS[@]}"; do
        pre=${PRE[$a]}
        line="$a"
        for pat in a b c; do
            ok=1
            for m in real base; do
                env -u LD_PRELOAD ${pre:+LD_PRELOAD=$pre} timeout -k 5 "$TMO" valgrind --tool=callgrind \
                    --callgrind-out-file="$TMP/cg.$m" "$BUILD/hotpath" "$pat" "$HOT_N" "$m" "$HOT_WARM" \
                    >"$TMP/hot.out" 2>"$TMP/hot.err" && grep -q '^hotpath ok' "$TMP/hot.out" || {
                        ok=0; cp "$TMP/hot.err" "$LOGS/hotpath.$a.$pat.$m.stderr"
                        note "hotpath $pat/$m under $a failed -- see bench/build/$MODE/logs/hotpath.$a.$pat.$m.stderr"; }
            done
            if [ "$ok" = 1 ]; then
                line="$line	$(awk -v r="$(ir_of "$TMP/cg.real")" -v b="$(ir_of "$TMP/cg.base")" -v n="$HOT_N" 'BEGIN { printf "%.1f", (r - b) / n }')"
            else
                line="$line	FAIL"
            fi
        done
        echo "$line" >>"$HOT"
        echo "$line" | awk -F'\t' '{ printf "  %-10s a=%s b=%s c=%s instructions/pair\n", $1, $2, $3, $4 }'
    done
else
    note "valgrind not installed; hot-path instruction counts skipped"
fi

# ---------------------------------------------------------------- report
T_END=$(date +%s)
{
    echo "mode=$MODE"
    echo "rounds=$ROUNDS"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -1)"
    echo "cc=$($CC --version | head -1)"
    echo "allocs=${ALLOCS[*]}"
    for a in "${ALLOCS[@]}"; do
        v=""
        if [ "$a" != ft_malloc ] && [ "$a" != glibc ] && command -v dpkg >/dev/null 2>&1; then
            v=$(dpkg -S "$(readlink -f "${PRE[$a]}")" 2>/dev/null | head -1 | cut -d: -f1,2 | sed 's/:amd64//; s/:.*//')
            [ -n "$v" ] && v="$v $(dpkg-query -W -f '${Version}' "$v" 2>/dev/null)"
        fi
        echo "lib_$a=${PRE[$a]}${v:+ ($v)}"
    done
    echo "ft_src=$FT_SRC"
    echo "ft_sha=$(sha256sum "$BUILD/lib/libft_malloc.so" | cut -c1-16)"
    echo "ft_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes in src/')"
    echo "params_quick=$QUICK"
    echo "sql_rows=$P_SQL"
    echo "redis_n=$P_REDIS"
    echo "hot_n=$HOT_N"
    echo "decay_mib=${DECAY[0]}"
    echo "decay_ms=${DECAY[1]}"
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "elapsed=$((T_END - T_START))"
    echo "py=$PY"
    for w in "${WORKLOADS[@]}"; do
        c="${ENV_OF[$w]:+${ENV_OF[$w]} }${CMD[$w]}"
        [ "${STDIN_OF[$w]}" != /dev/null ] && c="$c< ${STDIN_OF[$w]}"
        echo "cmd_$w=${c//$ROOT\//}"
    done
} >"$DATA/meta.txt"

"$PY" "$BENCH/report.py" "$DATA" "$OUT_MD" || { echo "error: report generation failed" >&2; exit 1; }
echo "== done in $((T_END - T_START)) s; report: ${OUT_MD#$ROOT/}"
