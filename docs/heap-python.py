# The workload behind docs/heap-python.png: python3 on ft_malloc, with dict/list/str churn,
# writing its heap report through the C entry point. Regenerate (from the repo root):
#   LD_PRELOAD=$PWD/libft_malloc.so PYTHONMALLOC=malloc python3 docs/heap-python.py /tmp/py.html
#   chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=$(mktemp -d) \
#     --window-size=1400,1400 --screenshot=docs/heap-python.png file:///tmp/py.html
import ctypes, json, random, sys
random.seed(42)
# dict/list/str work with churn: build a word index and parse JSON documents, then drop a
# random half of the index and every third document, so the heap has holes everywhere.
words = ["".join(random.choice("abcdefghijklmnop") for _ in range(random.randint(2, 40))) for _ in range(12000)]
index = {}
for i, w in enumerate(words):
    index.setdefault(w[:3], []).append(i)
docs = [json.dumps({"id": i, "tags": words[i:i + random.randint(1, 30)], "score": random.random()}) for i in range(4000)]
parsed = [json.loads(d) for d in docs]
for k in random.sample(sorted(index), len(index) // 2):
    del index[k]
del parsed[::3]
del docs[::2]
big = [bytes(100000 * 3 ** i) for i in range(5)]
del big[1]
lib = ctypes.CDLL(None)
lib.ft_malloc_report.argtypes = [ctypes.c_char_p]
print("ft_malloc_report:", lib.ft_malloc_report((sys.argv[1] if len(sys.argv) > 1 else "/tmp/py.html").encode()), "| index", len(index), "| parsed", len(parsed))
