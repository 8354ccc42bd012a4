"""python3 workload for the allocator benchmark (run with PYTHONMALLOC=malloc
so that every Python object goes through malloc/free). Builds and tears down
dicts of strings and lists, round-trips them through json, does string
splitting/joining/formatting. Prints only a deterministic digest.
usage: python3 py_workload.py [scale=10]"""
import hashlib
import json
import sys

scale = int(sys.argv[1]) if len(sys.argv) > 1 else 10
h = hashlib.sha256()

for rnd in range(scale):
    # dicts of short strings and small lists
    d = {}
    for i in range(40000):
        k = "key-%d-%d" % (rnd, i)
        d[k] = [i, str(i * 7), {"x": i % 13, "y": "v" * (i % 40)}]
    # json round trip
    s = json.dumps(d, sort_keys=True)
    back = json.loads(s)
    h.update(str(len(s)).encode())
    # delete every third key, rebuild with longer values
    for i, k in enumerate(list(back)):
        if i % 3 == 0:
            del back[k]
        else:
            back[k] = back[k][1] + "-" + k
    h.update(str(len(back)).encode())
    # string processing: split/join/replace/format
    text = " ".join("word%d" % (i % 997) for i in range(60000))
    words = text.split()
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    out = ",".join("%s=%d" % (w, c) for w, c in sorted(counts.items()))
    out = out.replace("word", "W").upper()
    h.update(out.encode())
    # many small tuples / lists dying young
    acc = 0
    for i in range(100000):
        t = (i, str(i), [i] * 3)
        acc += len(t[1]) + len(t[2])
    h.update(str(acc).encode())
    del d, back, s, words, counts, out

print("python ok", h.hexdigest()[:16])
