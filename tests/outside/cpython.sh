#!/usr/bin/env bash
# cpython.sh - CPython's own regression tests on ft_malloc.
#
# Usage (from the repo root): bash tests/outside/cpython.sh [filter-regex]
#   FT_MALLOC_SO        library under test (default: $PWD/libft_malloc.so)
#   PYTHON              interpreter (default: the real executable behind python3)
#   CPYTHON_TESTS       test modules (default: the list below)
#   CPYTHON_JOBS        regrtest -j (default 2)
#   CPYTHON_TIMEOUT     regrtest per-test-file timeout, seconds (default 900)
#   CPYTHON_BASELINE    "full" (default): run the whole list on glibc first, then
#                       on ft_malloc; "failures": run on ft_malloc, then rerun
#                       only the failures on glibc (for longer lists)
#
# 1. cpython.preload   LD_PRELOAD=$FT_MALLOC_SO PYTHONMALLOC=malloc python3:
#                      the library is mapped in python3 and in a child that
#                      python3 starts with subprocess (how -j workers start);
# 2. `python3 -m test -jN -W TESTS` without the preload (glibc), then with
#    LD_PRELOAD and PYTHONMALLOC=malloc (all Python objects then come from
#    ft_malloc); a sampler reads /proc/PID/maps of every regrtest worker
#    while they run: cpython.workers fails unless each one seen had the
#    library mapped (and PYTHONMALLOC=malloc in its environment);
# 3. a test file that fails on ft_malloc and on glibc too, with the same
#    failing test cases ("FAIL:" / "ERROR:" lines of -W's verbose output) and
#    no new crash, is not held against ft_malloc;
# 4. the remaining suspects are rerun once more with the preload: failing
#    again is a FAIL; passing is reported as "# WARNING flaky" (not a FAIL).
# One line "PASS cpython.<test>" / "FAIL cpython.<test>: why" per test file;
# both runs' summaries are shown.  Logs in tests/build/outside/cpython/.
# A test file that is not installed is reported as "# not installed" and left
# out; without the test package at all the script prints SKIP and exits 0.
# Takes about 1 minute on 2 cores (each run ~20 s).
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

W="$BUILD/outside/cpython"
JOBS=${CPYTHON_JOBS:-2}
PTIMEOUT=${CPYTHON_TIMEOUT:-900}
DEFAULT_TESTS="test_dict test_list test_set test_bytes test_unicode test_json test_re
test_collections test_pickle test_gc test_weakref test_threading test_queue test_ctypes
test_sqlite3 test_zlib test_mmap test_itertools test_long test_codecs test_xml_etree test_csv
test_dataclasses"
read -r -a TESTS <<<"$(echo ${CPYTHON_TESTS:-$DEFAULT_TESTS})"

require_lib setup
unset LD_PRELOAD PYTHONMALLOC PYTHONHOME PYTHONPATH
export LC_ALL=C.UTF-8 LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
# the real interpreter, not a pyenv shim (a shell script that execs it)
PY=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)}
if [ -z "$PY" ] || ! [ -x "$PY" ]; then
	echo "SKIP cpython: python3 not found"
	exit 0
fi
mkdir -p "$W"
rm -rf "$W/tmp"
mkdir -p "$W/tmp"
VER=$("$PY" -c 'import sys; print(sys.version.split()[0])')
info "python $VER ($PY), library $FT_MALLOC_SO"
if ! "$PY" -m test --help >/dev/null 2>"$W/help.err"; then
	echo "SKIP cpython: '$PY -m test' does not work (test package not installed?): $(tail -n1 "$W/help.err")"
	exit 0
fi

# Test files that are not installed are left out (and reported).
read -r -a TESTS <<<"$("$PY" - "${TESTS[@]}" <<'EOF'
import importlib.util, sys
ok = []
for t in sys.argv[1:]:
    try:
        found = importlib.util.find_spec("test." + t) is not None
    except ImportError:
        found = False
    if found:
        ok.append(t)
    else:
        print("# not installed: test." + t, file=sys.stderr)
print(" ".join(ok))
EOF
)"
[ ${#TESTS[@]} -gt 0 ] || { echo "SKIP cpython: none of the test files is installed"; exit 0; }
SOBASE=$(basename "$(realpath "$FT_MALLOC_SO")")

# ---------------------------------------------------------------------------
# Helper (run without the preload): regrtest output parsing and the sampler.
cat >"$W/helper.py" <<'EOF'
import json, os, re, sys, time

def parse(path):
    """Result of one regrtest run: per test file its state ("passed",
    "failed (...)", "skipped", ...), the failing cases, and the summary text."""
    text = open(path, errors="replace").read()
    state, cases = {}, {}
    # progress lines: "0:00:03 load avg: 1.2 [ 3/23] test_list passed" (also "/1" for failures)
    for m in re.finditer(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+) (.+)$", text, re.M):
        st = re.sub(r" -- running \(\d+\):.*$", "", m.group(2).strip())
        st = re.sub(r" \((?:[\d.]+ (?:ms|sec|min|hour) ?)+\)$", "", st)
        state[m.group(1)] = st
    for m in re.finditer(r"^(FAIL|ERROR): \S+ \((test\.[\w.]+)\)", text, re.M):
        ident = m.group(2)
        mod = ident.split(".")[1]
        cases.setdefault(mod, set()).add(m.group(1) + " " + ident)
    sections = {}
    i = text.rfind("== Tests result:")
    summary = text[i:] if i >= 0 else ""
    cur = None
    for line in summary.splitlines():
        h = re.match(r"^\d+ (?:re-run )?tests? (.*):$", line)
        if h:
            cur = h.group(1)
            sections[cur] = []
        elif cur and line.startswith("    "):
            sections[cur] += line.split()
        else:
            cur = None
    return {"state": state, "cases": {k: sorted(v) for k, v in cases.items()},
            "sections": sections, "summary": summary.strip(), "complete": i >= 0}

def bad(res, tests):
    """Test files that did not pass: failed, omitted, or without a result."""
    out = []
    for t in tests:
        st = res["state"].get(t)
        if t in res["sections"].get("failed", []) or st is None or not (
                st.startswith("passed") or st.startswith("skipped") or st in (
                    "failed (env changed)", "ran no tests")):
            out.append(t)
    return out

def cmd_parse(path, *tests):
    res = parse(path)
    json.dump({"res": res, "bad": bad(res, tests)}, sys.stdout)

def crashed(st):
    return st is None or any(w in st for w in ("worker", "crash", "timed out", "exit code", "uncaught"))

def cmd_compare(ft_json, glibc_json):
    """Suspects: failed on ft_malloc, and not explained by the glibc rerun."""
    ft = json.load(open(ft_json)); gl = json.load(open(glibc_json))
    for t in ft["bad"]:
        fst = ft["res"]["state"].get(t); gst = gl["res"]["state"].get(t)
        fc = set(ft["res"]["cases"].get(t, [])); gc = set(gl["res"]["cases"].get(t, []))
        if t not in gl["bad"]:
            why = "passes on glibc"
        elif crashed(fst) and not crashed(gst):
            why = "crashed on ft_malloc only"
        elif fc - gc:
            why = "cases failing on ft_malloc only: " + ", ".join(sorted(fc - gc))
        else:
            names = ", ".join(c.split(" ", 1)[1] for c in sorted(gc)) or gst
            print(f"same {t}\tfails on glibc too: {names}")
            continue
        print(f"suspect {t}\t{why}; ft_malloc: {fst}; glibc: {gst}")

def cmd_show(js, *keys):
    res = json.load(open(js))["res"]
    for t in keys:
        print(res["state"].get(t, "no result"))
        for c in res["cases"].get(t, [])[:10]:
            print("    " + c)

def cmd_summary(js):
    print(json.load(open(js))["res"]["summary"] or "(no summary: regrtest did not finish)")

def cmd_state(js, t):
    print(json.load(open(js))["res"]["state"].get(t, "no result"))

def cmd_sample(root, needle, out):
    """Until root exits: every 0.3 s, each regrtest worker among root's
    descendants: is needle in its /proc/PID/maps?

    Races this must not mistake for a missing preload:
    - a worker's forked child has the worker's command line until it
      execs something else: only a worker whose parent is not a worker
      counts;
    - cmdline, maps and environ are three reads: the sample counts only if
      cmdline reads the same after the other two (no exec in between);
    - a process between execve and the end of the dynamic loader's work
      has no LD_PRELOAD object mapped yet: the sample counts only once
      libc.so is mapped (the loader maps it after every preloaded object).
    A worker not yet seen with the library is looked at again later."""
    root = int(root)
    seen = {}
    def descendants():
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    kids.setdefault(ppid, []).append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        res, todo = [], [root]
        while todo:
            p = todo.pop()
            for k in kids.get(p, []):
                res.append((k, p)); todo.append(k)
        return res
    def cmdline(p):
        return open(f"/proc/{p}/cmdline", "rb").read()
    def is_worker(cmd):
        return b"libregrtest.worker" in cmd or b"--worker-json" in cmd
    while os.path.exists(f"/proc/{root}"):
        for p, parent in descendants():
            if seen.get(p, {}).get("mapped"):
                continue
            try:
                cmd = cmdline(p)
                if not is_worker(cmd) or is_worker(cmdline(parent)):
                    seen.pop(p, None)
                    continue
                maps = open(f"/proc/{p}/maps").read()
                env = open(f"/proc/{p}/environ", "rb").read().split(b"\0")
                if cmdline(p) != cmd or "libc.so" not in maps:
                    continue
            except OSError:
                continue
            seen[p] = {"mapped": needle in maps, "pymalloc_env": b"PYTHONMALLOC=malloc" in env}
        time.sleep(0.3)
    json.dump(seen, open(out, "w"))

if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
EOF
helper() { "$PY" "$W/helper.py" "$@"; }

# ---------------------------------------------------------------------------
# 1. The preload reaches python3 and the processes it starts.
if wanted cpython.preload; then
	out=$(timeout 60 env LD_PRELOAD="$FT_MALLOC_SO" PYTHONMALLOC=malloc "$PY" -c '
import subprocess, sys
so = sys.argv[1]
me = so in open("/proc/self/maps").read()
child = subprocess.run([sys.executable, "-c",
    "import sys; print(sys.argv[1] in open(\"/proc/self/maps\").read())", so],
    capture_output=True, text=True).stdout.strip()
print(me, child)' "$SOBASE" 2>&1)
	if [ "$out" = "True True" ]; then
		pass cpython.preload
	else
		fail cpython.preload "$SOBASE not mapped in python3 and its child (got: $out)"
	fi
fi

# run_regrtest NAME PRELOAD(0|1) TEST...: python3 -m test on TEST..., output in
# $W/NAME.log, parsed into $W/NAME.json; prints the elapsed time.
run_regrtest() {
	local name=$1 pre=$2 t0=$SECONDS rc
	shift 2
	local env=()
	[ "$pre" = 1 ] && env=(LD_PRELOAD="$FT_MALLOC_SO" PYTHONMALLOC=malloc)
	(
		cd "$W/tmp" &&
			exec timeout -k 30 $((PTIMEOUT * 2 + 600)) env "${env[@]}" TMPDIR="$W/tmp" \
				"$PY" -m test -j"$JOBS" -W --timeout "$PTIMEOUT" "$@"
	) >"$W/$name.log" 2>&1 </dev/null &
	local pid=$!
	if [ "$pre" = 1 ]; then
		helper sample "$pid" "$SOBASE" "$W/$name.workers.json" &
		SAMPLER=$!
	fi
	wait $pid
	rc=$?
	[ "$pre" = 1 ] && wait "$SAMPLER"
	helper parse "$W/$name.log" "$@" >"$W/$name.json"
	info "$name: python3 -m test -j$JOBS on ${#@} test files: exit $rc, $((SECONDS - t0)) s"
	return $rc
}

show_summary() {
	info "---- $1 summary ----"
	helper summary "$W/$2.json" | sed 's/^/#   /'
}

T0=$SECONDS
BASELINE=${CPYTHON_BASELINE:-full}
if [ "$BASELINE" = full ]; then
	run_regrtest glibc 0 "${TESTS[@]}"
	show_summary "glibc" glibc
fi

run_regrtest ft 1 "${TESTS[@]}"
show_summary "ft_malloc" ft
read -r -a FT_BAD <<<"$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["bad"]))' "$W/ft.json")"

# 2. every worker process had the library mapped
if wanted cpython.workers; then
	read -r n_seen n_mapped n_env <<<"$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(len(d), sum(v["mapped"] for v in d.values()), sum(v["pymalloc_env"] for v in d.values()))' "$W/ft.workers.json" 2>/dev/null || echo "0 0 0")"
	if [ "${n_seen:-0}" -gt 0 ] && [ "$n_mapped" = "$n_seen" ] && [ "$n_env" = "$n_seen" ]; then
		pass "cpython.workers ($n_seen regrtest worker processes, each with $SOBASE mapped and PYTHONMALLOC=malloc)"
	else
		fail cpython.workers "regrtest workers seen: ${n_seen:-0}, with $SOBASE mapped: ${n_mapped:-0}, with PYTHONMALLOC=malloc: ${n_env:-0}"
	fi
fi

# 3. failures: compare with glibc (rerun them there first in "failures" mode)
declare -A VERDICT
if [ ${#FT_BAD[@]} -gt 0 ]; then
	info "failed on ft_malloc: ${FT_BAD[*]}"
	if [ "$BASELINE" != full ]; then
		info "rerunning them on glibc"
		run_regrtest glibc 0 "${FT_BAD[@]}"
		show_summary "glibc (rerun of the failures)" glibc
	fi
	helper compare "$W/ft.json" "$W/glibc.json" >"$W/compare.txt"
	SUSPECTS=()
	while IFS=$'\t' read -r kind_t why; do
		t=${kind_t#* }
		if [ "${kind_t%% *}" = same ]; then
			VERDICT[$t]="PASS|$why"
		else
			SUSPECTS+=("$t")
			VERDICT[$t]="FAIL|$why"
		fi
	done <"$W/compare.txt"
	# 4. suspects: once more on ft_malloc
	if [ ${#SUSPECTS[@]} -gt 0 ]; then
		info "not explained by glibc: ${SUSPECTS[*]}; rerunning them on ft_malloc"
		run_regrtest ft-rerun 1 "${SUSPECTS[@]}"
		show_summary "ft_malloc (rerun of the suspects)" ft-rerun
		read -r -a STILL <<<"$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["bad"]))' "$W/ft-rerun.json")"
		for t in "${SUSPECTS[@]}"; do
			case " ${STILL[*]} " in
			*" $t "*) ;;
			*)
				echo "# WARNING flaky: cpython.$t failed once on ft_malloc (${VERDICT[$t]#*|})," \
					"passed on the rerun ($(helper state "$W/ft-rerun.json" "$t")); see $W/ft.log"
				VERDICT[$t]="PASS|flaky: failed once on ft_malloc, passed on the rerun"
				;;
			esac
		done
	fi
else
	info "every test file passed on ft_malloc"
fi

for t in "${TESTS[@]}"; do
	wanted "cpython.$t" || continue
	v=${VERDICT[$t]:-}
	if [ -z "$v" ]; then
		st=$(helper state "$W/ft.json" "$t")
		case $st in
		passed*) pass "cpython.$t" ;;
		*) pass "cpython.$t ($st)" ;;
		esac
	elif [ "${v%%|*}" = PASS ]; then
		pass "cpython.$t (${v#*|})"
	else
		fail "cpython.$t" "${v#*|} (logs: $W/ft.log, $W/glibc.log)"
		helper show "$W/ft.json" "$t" | sed 's/^/#   ft_malloc: /'
	fi
done
info "cpython: $((SECONDS - T0)) s in all"
finish
