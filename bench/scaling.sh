#!/usr/bin/env bash
# Thread scaling: the larson-like, producer/consumer and medium-buffer workloads
# at 1, 2, 4, 8 and 16 threads under glibc, jemalloc, mimalloc, tcmalloc and ft_malloc,
# interleaved (every allocator once per thread count per round), medians of
# the workloads' own throughput lines, and peak RSS.
#
#   bash bench/scaling.sh            -> bench/results-scaling.md (run.sh copies it
#                                       into bench/results.md as its last section)
#   make bench-scaling               the same, after building the library
#
# Environment:
#   FT_MALLOC_SO      the ft_malloc library (default ./libft_malloc.so)
#   SCALING_THREADS   thread counts (default "1 2 4 8 16")
#   SCALING_ROUNDS    rounds (default 5)
#   SCALING_OUT       report (default bench/results-scaling.md)
#   ALLOC_DIR         extra directory searched first for the comparison allocators
#                     (libjemalloc.so.2, libmimalloc.so.2, libtcmalloc_minimal.so.4)
#   BENCH_BIN         directory holding prebuilt larson, prodcons and medium (default: build
#                     them with $CC into bench/build/scaling)
#   TIME_BIN          GNU time, for peak RSS (default /usr/bin/time; without it, no RSS)
#   FT_GIT            the commit named in the report (default: git rev-parse --short HEAD)
#   SCALING_TSV       runs nothing: writes the report from this results file of an earlier
#                     run (bench/build/scaling/results.tsv; one cut short keeps the rounds it
#                     finished, and the report counts the rounds it holds)
#
# larson T: T chains of threads, each thread 50,000 random replacements of
# blocks of 16..1024 B in its chain's 2,000 slots, 100 threads per chain in
# turn (each frees blocks the previous one allocated): ops/s.
# prodcons T: T/2 producer threads each handing 40,000 batches of 256 blocks
# of 16..512 B to its own consumer thread, which frees them (every free is
# cross-thread): objects/s. It needs two threads, so its 1-thread column is
# empty.
# medium T: T threads each replacing 100,000 random blocks of 16 B..256 KiB
# among its 100 live ones, writing every page of each new block (buffers:
# three quarters of the blocks are above ft_malloc's SMALL_MAX): ops/s.
# Every workload checks its blocks' contents before freeing them.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
THREADS=${SCALING_THREADS:-1 2 4 8 16}
ROUNDS=${SCALING_ROUNDS:-5}
OUT_MD=${SCALING_OUT:-$ROOT/bench/results-scaling.md}
TIME_BIN=${TIME_BIN:-/usr/bin/time}
WORK=$ROOT/bench/build/scaling
mkdir -p "$WORK" || exit 1
RES=${SCALING_TSV:-$WORK/results.tsv}
[ -n "${SCALING_TSV:-}" ] || : >"$RES"

note() { echo "note: $*" >&2; }
. "$ROOT/bench/allocators.sh"
find_allocators
ALLOCS+=(ft_malloc); PRE[ft_malloc]=$WORK/libft_malloc.so

if [ -z "${SCALING_TSV:-}" ]; then
FT=${FT_MALLOC_SO:-$ROOT/libft_malloc.so}
[ -e "$FT" ] || { echo "error: $FT not found; run make first" >&2; exit 1; }
cp -L "$FT" "$WORK/libft_malloc.so" || exit 1
BIN=${BENCH_BIN:-}
if [ -z "$BIN" ]; then
    BIN=$WORK
    for w in larson prodcons medium; do
        ${CC:-gcc} -O2 -g -Wall -pthread -o "$BIN/$w" bench/$w.c || exit 1
    done
fi
HAVE_TIME=1
"$TIME_BIN" -f %M -o /dev/null /bin/true 2>/dev/null || { HAVE_TIME=0; echo "note: no GNU time: no RSS" >&2; }

# run WORKLOAD THREADS ALLOC ROUND: appends "w t alloc round status throughput rss_kb"
run() {
    local w=$1 t=$2 a=$3 r=$4 pre=${PRE[$3]} args out=$WORK/out tf=$WORK/time rc thr rss=0 st=ok
    case $w in
        larson) args=(100 "$t" 2000 50000) ;;
        prodcons) args=(40 $((t / 2))) ;;
        medium) args=(100 "$t") ;;
    esac
    if [ "$HAVE_TIME" = 1 ]; then
        "$TIME_BIN" -f %M -o "$tf" timeout -k 5 120 env ${pre:+LD_PRELOAD=$pre} "$BIN/$w" "${args[@]}" >"$out" 2>"$WORK/err"
    else
        timeout -k 5 120 env ${pre:+LD_PRELOAD=$pre} "$BIN/$w" "${args[@]}" >"$out" 2>"$WORK/err"
    fi
    rc=$?
    thr=$(awk '/^throughput:/ { print $2 }' "$out")
    [ "$HAVE_TIME" = 1 ] && rss=$(tail -n 1 "$tf" | awk '{ print $1 + 0 }')
    if [ "$rc" != 0 ] || [ -z "$thr" ] || ! grep -q "^$w ok" "$out"; then
        st="FAIL(rc=$rc)"; thr=0
        echo "  $w $t threads under $a: $st: $(head -c 300 "$WORK/err")" >&2
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" "$a" "$r" "$st" "$thr" "$rss" >>"$RES"
}

# The machine and the library, beside the results, for a report written later (SCALING_TSV).
{
    echo "DATE='$(date -u '+%Y-%m-%d %H:%M UTC')'"
    echo "NPROC='$(nproc)'"
    echo "CPU='$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null | tr -d "'")'"
    echo "KERNEL='$(uname -r)'"
    echo "FT_GIT='${FT_GIT:-$(git rev-parse --short HEAD 2>/dev/null)}'"
} >"$RES.info"
echo "== thread scaling: threads $THREADS, $ROUNDS round(s), allocators ${ALLOCS[*]} ($(nproc) CPUs)"
T0=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
    for w in larson prodcons medium; do
        for t in $THREADS; do
            [ "$w" = prodcons ] && [ "$t" -lt 2 ] && continue
            for a in "${ALLOCS[@]}"; do run "$w" "$t" "$a" "$r"; done
        done
    done
    echo "  round $r done ($(( $(date +%s) - T0 )) s)"
done
else
    [ -s "$RES" ] || { echo "error: $RES is empty or missing" >&2; exit 1; }
    ROUNDS=$(awk -F'\t' '$4 > n { n = $4 } END { print n + 0 }' "$RES")
    T0=$(date +%s)
fi

# ---------------------------------------------------------------- report
# shellcheck disable=SC1090,SC1091
. "$RES.info" 2>/dev/null || { echo "error: $RES.info missing" >&2; exit 1; }
{
    echo "## Thread scaling (\`bench/scaling.sh\`)"
    echo
    echo "$DATE, ft_malloc $FT_GIT, $NPROC CPUs (${CPU:-unknown CPU}), kernel $KERNEL," \
        "$ROUNDS rounds interleaved, medians. Throughput in millions per second (higher is better);" \
        "peak RSS in MiB. larson: threads replacing random blocks of 16..1024 B, each thread" \
        "handing its slots to a new thread; prodcons: T/2 producer threads, each with its own" \
        "consumer thread that frees everything (needs two threads: no 1-thread column);" \
        "medium: threads replacing random buffers of 16 B..256 KiB, every page written."
    awk -F'\t' -v order="${ALLOCS[*]}" -v threads="$THREADS" '
        function med(list,   n, v, x, y, s) {
            n = split(substr(list, 2), v, " ")
            if (n == 0) return -1
            for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (v[y] + 0 < v[x] + 0) { s = v[x]; v[x] = v[y]; v[y] = s }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        $5 == "ok" { thr[$1, $2, $3] = thr[$1, $2, $3] " " $6; rss[$1, $2, $3] = rss[$1, $2, $3] " " $7; seen[$1, $2] = 1 }
        $5 != "ok" { bad[$1, $2, $3] = $5 }
        END {
            na = split(order, al, " "); nt = split(threads, th, " ")
            nw = split("larson prodcons medium", ws, " ")
            for (wi = 1; wi <= nw; wi++) {
                w = ws[wi]
                printf "\n### %s: throughput (M %s/s)\n\n| allocator |", w, (w == "prodcons" ? "objects" : "ops")
                for (i = 1; i <= nt; i++) printf " %s |", th[i]
                printf "\n|---|"; for (i = 1; i <= nt; i++) printf "---|"; printf "\n"
                for (k = 1; k <= na; k++) {
                    a = al[k]; printf "| %s |", a
                    for (i = 1; i <= nt; i++) {
                        t = th[i]
                        if ((w, t, a) in bad) { printf " %s |", bad[w, t, a]; continue }
                        m = med(thr[w, t, a]); M[w, t, a] = m
                        if (m < 0) printf " |"; else printf " %.1f |", m / 1e6
                    }
                    printf "\n"
                }
                printf "| ft_malloc / mimalloc |"
                for (i = 1; i <= nt; i++) {
                    t = th[i]; f = M[w, t, "ft_malloc"]; m = M[w, t, "mimalloc"]
                    if (f > 0 && m > 0) printf " %.2f |", f / m; else printf " |"
                }
                printf "\n| ft_malloc / best other |"
                for (i = 1; i <= nt; i++) {
                    t = th[i]; f = M[w, t, "ft_malloc"]; b = 0
                    for (k = 1; k <= na; k++) if (al[k] != "ft_malloc" && M[w, t, al[k]] > b) b = M[w, t, al[k]]
                    if (f > 0 && b > 0) printf " %.2f |", f / b; else printf " |"
                }
                printf "\n\n%s: peak RSS (MiB)\n\n| allocator |", w
                for (i = 1; i <= nt; i++) printf " %s |", th[i]
                printf "\n|---|"; for (i = 1; i <= nt; i++) printf "---|"; printf "\n"
                for (k = 1; k <= na; k++) {
                    a = al[k]; printf "| %s |", a
                    for (i = 1; i <= nt; i++) {
                        m = med(rss[w, th[i], a])
                        if (m <= 0) printf " |"; else printf " %.1f |", m / 1024
                    }
                    printf "\n"
                }
            }
        }' "$RES"
} >"$OUT_MD"
cat "$OUT_MD"
echo "== wrote ${OUT_MD#"$ROOT"/} ($(( $(date +%s) - T0 )) s)"
