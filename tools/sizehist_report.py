#!/usr/bin/env python3
"""Summarise tools/sizehist.so records (see tools/sizehist_run.sh) as Markdown.

    python3 tools/sizehist_report.py tools/build/sizehist.txt > report.md
"""
import collections
import sys

BANDS = ["le128", "le512", "le1024", "le4096", "le32768", "le131072", "gt131072"]
HEAD = ["≤128", "129–512", "513–1K", "1K+1–4K", "4K+1–32K", "32K+1–128K", ">128K"]
OPS = ["malloc", "calloc", "realloc", "aligned", "free"]


def parse(path):
    procs = {}
    for line in open(path):
        f = line.split()
        if len(f) < 3 or f[0] != "SH":
            continue
        pid, kind = f[1], f[2]
        if kind == "begin":
            p = procs[pid] = {"kv": dict(x.split("=", 1) for x in f[3:])}
            continue
        p = procs.get(pid)
        if p is None or kind == "end":
            continue
        p[kind] = {k: int(v) for k, v in (x.split("=", 1) for x in f[3:])}
    return [p for p in procs.values() if "band_n" in p]


def add(acc, p):
    for sect in ("ops", "band_n", "band_b", "log2_n", "log2_b", "sim32768", "sim131072", "mid"):
        for k, v in p.get(sect, {}).items():
            if (sect == "ops" and k == "max") or k == "overflow":
                acc[sect][k] = max(acc[sect].get(k, 0), v)
            else:
                acc[sect][k] = acc[sect].get(k, 0) + v
    acc["procs"] += 1


def new():
    return {"ops": {}, "band_n": {}, "band_b": {}, "log2_n": {}, "log2_b": {},
            "sim32768": {}, "sim131072": {}, "mid": {}, "procs": 0}


def pct(a, b):
    if b == 0:
        return "–"
    v = 100.0 * a / b
    if v == 0:
        return "0"
    if v < 0.01:
        return "<0.01"
    return "%.2f" % v if v < 10 else "%.1f" % v


def requests(acc):
    return sum(acc["band_n"].get(b, 0) for b in BANDS)


def table(rows):
    """rows: list of (name, acc). Two tables: request share and byte share."""
    out = []
    out.append("| program | procs | requests | " + " | ".join(HEAD) + " |")
    out.append("|---|--:|--:|" + "--:|" * len(HEAD))
    for name, a in rows:
        n = requests(a)
        out.append("| %s | %d | %d | %s |" % (name, a["procs"], n,
                   " | ".join(pct(a["band_n"].get(b, 0), n) for b in BANDS)))
    out.append("")
    out.append("Share of requested bytes (%):")
    out.append("")
    out.append("| program | bytes requested | " + " | ".join(HEAD) + " |")
    out.append("|---|--:|" + "--:|" * len(HEAD))
    for name, a in rows:
        nb = sum(a["band_b"].get(b, 0) for b in BANDS)
        out.append("| %s | %s | %s |" % (name, human(nb),
                   " | ".join(pct(a["band_b"].get(b, 0), nb) for b in BANDS)))
    return "\n".join(out)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def zones(rows):
    out = ["| program | TINY ≤512 | SMALL 513–32K | LARGE >32K (count) | 32K+1–128K (count) | >128K (count) | ops: malloc / calloc / realloc / aligned / free | largest |",
           "|---|--:|--:|--:|--:|--:|---|--:|"]
    for name, a in rows:
        n = requests(a)
        bn = a["band_n"]
        tiny = bn.get("le128", 0) + bn.get("le512", 0)
        small = bn.get("le1024", 0) + bn.get("le4096", 0) + bn.get("le32768", 0)
        mid, big = bn.get("le131072", 0), bn.get("gt131072", 0)
        o = a["ops"]
        out.append("| %s | %s%% | %s%% | %s%% (%d) | %s%% (%d) | %s%% (%d) | %s | %s |" % (
            name, pct(tiny, n), pct(small, n), pct(mid + big, n), mid + big,
            pct(mid, n), mid, pct(big, n), big,
            " / ".join(str(o.get(k, 0)) for k in OPS), human(o.get("max", 0))))
    return "\n".join(out)


def sim(rows):
    out = ["| program | SMALL_MAX | LARGE allocs | cache hits | mmap calls | of which grow-at-end | munmap calls | sizes in 32K+1–128K (top, count) |",
           "|---|--:|--:|--:|--:|--:|--:|---|"]
    for name, a in rows:
        mid = sorted(a["mid"].items(), key=lambda kv: -kv[1])[:4]
        mids = ", ".join("%s×%d" % (k, v) for k, v in mid) or "–"
        for i, b in enumerate(("sim32768", "sim131072")):
            d = a[b]
            if d.get("overflow"):
                name += " (table overflow!)"
            out.append("| %s | %s | %d | %d | %d | %d | %d | %s |" % (
                name if i == 0 else "", "32K" if i == 0 else "128K", d.get("large", 0),
                d.get("hit", 0), d.get("mmap", 0), d.get("grow", 0), d.get("munmap", 0),
                mids if i == 0 else ""))
    return "\n".join(out)


def log2(rows):
    ks = sorted({int(k) for _, a in rows for k in a["log2_n"]})
    def lab(k):
        return "≤1" if k == 0 else "≤" + (("%dK" % (2 ** k // 1024)) if k >= 10 and k < 20 else
                                          ("%dM" % (2 ** k // 2 ** 20)) if k >= 20 else str(2 ** k))
    out = ["| size (2^(k-1), 2^k] | " + " | ".join(n for n, _ in rows) + " |",
           "|---|" + "--:|" * len(rows)]
    for k in ks:
        out.append("| %s | %s |" % (lab(k), " | ".join(
            pct(a["log2_n"].get(str(k), 0), requests(a)) for _, a in rows)))
    return "\n".join(out)


def main():
    procs = parse(sys.argv[1])
    by_label = collections.OrderedDict()
    by_comm = collections.OrderedDict()
    total = new()
    for p in procs:
        lab = p["kv"].get("label", "-")
        by_label.setdefault(lab, new())
        add(by_label[lab], p)
        key = "%s: %s" % (lab, p["kv"].get("comm", "?"))
        by_comm.setdefault(key, new())
        add(by_comm[key], p)
        add(total, p)
    # overall: each program weighted by its own requests, and each program equally
    rows = list(by_label.items())
    eq = new()
    for _, a in rows:
        n = requests(a)
        for b in BANDS:
            eq["band_n"][b] = eq["band_n"].get(b, 0) + a["band_n"].get(b, 0) / n * 1e6
            nb = sum(a["band_b"].values())
            eq["band_b"][b] = eq["band_b"].get(b, 0) + a["band_b"].get(b, 0) / nb * 1e6
    eq["procs"] = total["procs"]
    print("## Per program\n")
    print("Share of requests (%):\n")
    print(table(rows + [("**all (pooled)**", total)]))
    print("\n## Zones\n")
    print(zones(rows + [("**all (pooled)**", total)]))
    print("\n## LARGE path, simulated (8-slot cache), SMALL_MAX 32K vs 128K\n")
    print(sim(rows + [("**all**", total)]))
    print("\n## Per process image (multi-process workloads)\n")
    multi = [(k, a) for k, a in by_comm.items()
             if sum(1 for kk in by_comm if kk.split(":")[0] == k.split(":")[0]) > 1]
    print(table(multi))
    print("\n## Programs weighted equally (mean of per-program shares)\n")
    print("| | " + " | ".join(HEAD) + " |\n|---|" + "--:|" * len(HEAD))
    s = sum(eq["band_n"].values())
    print("| requests | " + " | ".join(pct(eq["band_n"][b], s) for b in BANDS) + " |")
    s = sum(eq["band_b"].values())
    print("| bytes | " + " | ".join(pct(eq["band_b"][b], s) for b in BANDS) + " |")
    print("\n## log2 histogram (share of requests, %)\n")
    print(log2(rows))


if __name__ == "__main__":
    main()
