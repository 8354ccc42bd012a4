"""Python workload for tests/programs/run.sh (run with PYTHONMALLOC=malloc).

Everything printed must be deterministic: no hash() of str, no addresses, no
timing, thread results sorted before printing.
"""
import bisect
import collections
import gc
import hashlib
import heapq
import json
import queue
import random
import re
import threading


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:24]


def section(name, value):
    print("%-12s %s" % (name, value))


rng = random.Random(1234)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def rword(r, lo=1, hi=14):
    return "".join(r.choices(LETTERS, k=r.randint(lo, hi)))


# --- big dicts / sets / lists of strings and ints ------------------------
d = {}
for i in range(150000):
    d["k%07d-%s" % (i, rword(rng, 0, 6))] = i * 7 + rng.randint(0, 99)
section("dict.len", len(d))
section("dict.sum", sum(d.values()))
for k in list(d)[::3]:
    del d[k]
section("dict.after", (len(d), sum(d.values()) % 1000003))
ints = {rng.randint(0, 10**12) for _ in range(120000)}
strs = {rword(rng, 3, 9) for _ in range(80000)}
section("set.ints", (len(ints), sum(ints) % (2**61 - 1)))
section("set.strs", (len(strs), digest(sorted(strs)[:1000])))
both = {str(x) for x in list(ints)[:50000]} | strs
section("set.union", len(both))
lst = [rword(rng) for _ in range(100000)]
lst2 = lst * 2
lst2.extend(range(1000))
section("list", (len(lst2), digest(lst[-50:])))
big_ints = [rng.getrandbits(rng.randint(1, 2000)) for _ in range(20000)]
section("bigint", sum(big_ints) % (10**40 + 7))
del d, ints, lst2, big_ints
gc.collect()

# --- json round trip of a nested structure -------------------------------
def nested(r, depth):
    if depth == 0:
        c = r.random()
        if c < 0.3:
            return r.randint(-10**9, 10**9)
        if c < 0.5:
            return round(r.uniform(-1000, 1000), 6)
        if c < 0.6:
            return None
        if c < 0.65:
            return c < 0.62
        return rword(r) + "\u00e9\u4e2d" * r.randint(0, 2)
    if r.random() < 0.5:
        return [nested(r, depth - 1) for _ in range(r.randint(0, 6))]
    return {rword(r, 1, 8): nested(r, depth - 1) for _ in range(r.randint(0, 6))}


doc = {"items": [nested(rng, 6) for _ in range(25)], "meta": {"v": 1}}
s1 = json.dumps(doc, sort_keys=True)
back = json.loads(s1)
s2 = json.dumps(back, sort_keys=True, indent=1, ensure_ascii=False)
section("json", (back == doc, len(s1), hashlib.sha256(s1.encode()).hexdigest()[:24],
                 len(s2), hashlib.sha256(s2.encode()).hexdigest()[:24]))
del doc, back, s1, s2

# --- sorting -------------------------------------------------------------
recs = [(rword(rng, 1, 6), rng.randint(0, 1000), rng.random()) for _ in range(80000)]
recs.sort()
section("sort.tuple", digest(recs[::2000]))
recs.sort(key=lambda t: (-t[1], t[0], t[2]))
section("sort.key", digest(recs[::2000]))
section("sorted.str", digest(sorted((r[0] for r in recs), reverse=True)[::2000]))
section("heap", digest(heapq.nsmallest(20, recs, key=lambda t: t[2])))
keys = sorted(r[2] for r in recs)
section("bisect", [bisect.bisect(keys, x / 10) for x in range(10)])
del recs, keys

# --- re ------------------------------------------------------------------
text = "\n".join(
    "%s=%d; %s@%s.com [%s] %s" % (rword(rng), rng.randint(0, 99999), rword(rng, 2, 8),
                                  rword(rng, 2, 6), rword(rng, 1, 4).upper(),
                                  " ".join(rword(rng) for _ in range(rng.randint(0, 8))))
    for _ in range(15000))
pairs = re.findall(r"^(\w+)=(\d+);", text, re.M)
mails = re.findall(r"\b([a-z]+)@([a-z]+)\.com\b", text)
subbed = re.sub(r"\[([A-Z]+)\]", lambda m: "<" + m.group(1).lower()[::-1] + ">", text)
split = re.split(r"[;\s]+", text)
section("re", (len(pairs), sum(int(v) for _, v in pairs), len(mails),
               hashlib.sha256(subbed.encode()).hexdigest()[:24], len(split)))
pat = re.compile(r"(?P<w>[aeiou]{2,})(?P<r>[^aeiou\s]+)")
section("re.iter", digest(collections.Counter(m.group("w") for m in pat.finditer(text)).most_common(15)))

# --- collections ---------------------------------------------------------
cnt = collections.Counter(split)
section("counter", (len(cnt), sorted(cnt.most_common(25), key=lambda kv: (-kv[1], kv[0]))[:10]))
dd = collections.defaultdict(list)
for w in split:
    dd[w[:2]].append(len(w))
section("defaultdict", (len(dd), digest(sorted((k, sum(v)) for k, v in dd.items()))))
dq = collections.deque(maxlen=5000)
for i, w in enumerate(split):
    dq.append(w)
    if i % 7 == 0:
        dq.rotate(3)
    if i % 11 == 0 and dq:
        dq.popleft()
section("deque", (len(dq), digest(list(dq)[:100])))
od = collections.OrderedDict()
for w in split[:40000]:
    od[w] = od.get(w, 0) + 1
    od.move_to_end(w, last=len(w) % 2 == 0)
section("ordereddict", digest(list(od.items())[:200]))
Pt = collections.namedtuple("Pt", "x y z")
pts = [Pt(rng.randint(0, 100), rng.randint(0, 100), rword(rng)) for _ in range(20000)]
section("namedtuple", digest(sorted(pts)[:50]))
chain = collections.ChainMap({"a": 1}, {"b": 2}, dict.fromkeys(LETTERS, 0))
section("chainmap", sorted(chain.items())[:5])
del text, subbed, split, cnt, dd, dq, od, pts
gc.collect()

# --- strings / bytes growth -----------------------------------------------
ba = bytearray()
for i in range(80000):
    ba += (b"%d," % (i * i)) * (1 + i % 3)
    if i % 1000 == 999:
        del ba[: len(ba) // 4]
section("bytearray", (len(ba), hashlib.sha256(ba).hexdigest()[:24]))
parts = []
for i in range(50000):
    parts.append(("%x" % (i * 2654435761 % 2**32)) * (i % 5))
joined = "-".join(parts)
section("join", (len(joined), hashlib.md5(joined.encode()).hexdigest()))
del ba, parts, joined


# --- threads: 4 workers pulling from a queue ------------------------------
def work(task):
    r = random.Random(task)
    d = {}
    for _ in range(1500 + task * 10):
        k = rword(r, 1, 6)
        d[k] = d.get(k, 0) + r.randint(1, 9)
    items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
    blob = json.dumps(items).encode()
    return task, len(d), items[0], hashlib.sha1(blob).hexdigest()[:16]


tasks = queue.Queue()
results = queue.Queue()
for t in range(100):
    tasks.put(t)


def worker():
    while True:
        try:
            t = tasks.get_nowait()
        except queue.Empty:
            return
        results.put(work(t))


threads = [threading.Thread(target=worker) for _ in range(4)]
for th in threads:
    th.start()
for th in threads:
    th.join()
out = []
while not results.empty():
    out.append(results.get())
out.sort()
section("threads", (len(out), digest(out)))
for row in out[::12]:
    print("  ", row)
print("done")
