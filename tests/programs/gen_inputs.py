#!/usr/bin/env python3
"""Generate the deterministic inputs for tests/programs/run.sh.

Usage: gen_inputs.py OUTDIR

Everything is derived from a fixed seed, so the same files come out on every
run. This runs WITHOUT the allocator under test preloaded: it only produces
data, and both runs of each program (glibc malloc, then LD_PRELOAD) read the
very same files.
"""
import os
import random
import sys

SEED = 20240601


def words(rng, n, lo=2, hi=12):
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = set()
    while len(out) < n:
        out.add("".join(rng.choices(letters, k=rng.randint(lo, hi))))
    return sorted(out)


def gen_text(path, rng, target_bytes):
    """~target_bytes of word lines, for sort (and, truncated, for xz)."""
    vocab = words(rng, 6000)
    caps = [w.capitalize() for w in vocab[:500]]
    pool = vocab + caps + ["", "-", "0", "00", "zz top", "a\tb"]
    size = 0
    chunk = []
    with open(path, "w") as f:
        while size < target_bytes:
            k = rng.randint(1, 12)
            line = " ".join(rng.choices(pool, k=k))
            r = rng.random()
            if r < 0.3:
                line = "%d %s" % (rng.randint(-100000, 10**9), line)
            elif r < 0.35:
                line = "%s %.3f" % (line, rng.uniform(-1e6, 1e6))
            elif r < 0.38:
                line = line.upper()
            chunk.append(line)
            size += len(line) + 1
            if len(chunk) >= 20000:
                f.write("\n".join(chunk))
                f.write("\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk))
            f.write("\n")


def gen_sql(path, rng):
    cities = words(rng, 300, 4, 9)
    cats = ["books", "games", "food", "tools", "music", "garden", "toys",
            "sport", "auto", "home", "health", "office"]
    names = words(rng, 4000, 3, 10)
    out = []
    w = out.append
    w("PRAGMA journal_mode=MEMORY;")
    w("PRAGMA cache_size=-20000;")
    w("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
      " city TEXT NOT NULL, joined INTEGER NOT NULL);")
    w("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL"
      " REFERENCES customers(id), amount INTEGER NOT NULL, qty INTEGER NOT NULL,"
      " category TEXT NOT NULL, note TEXT);")
    w("CREATE TABLE categories(name TEXT PRIMARY KEY, vat INTEGER NOT NULL);")
    w("BEGIN;")
    for i, c in enumerate(cats):
        w("INSERT INTO categories VALUES('%s', %d);" % (c, 5 + (i * 7) % 20))
    ncust = 5000
    for i in range(1, ncust + 1):
        w("INSERT INTO customers VALUES(%d,'%s %s','%s',%d);" % (
            i, rng.choice(names).capitalize(), rng.choice(names).capitalize(),
            rng.choice(cities), 2000 + rng.randint(0, 24)))
    for i in range(1, 200001):
        note = "NULL"
        if rng.random() < 0.4:
            note = "'" + " ".join(rng.choices(names, k=rng.randint(1, 8))) + "'"
        w("INSERT INTO orders VALUES(%d,%d,%d,%d,'%s',%s);" % (
            i, rng.randint(1, ncust), rng.randint(1, 500000), rng.randint(1, 20),
            rng.choice(cats), note))
    w("COMMIT;")
    w("CREATE INDEX orders_customer ON orders(customer_id);")
    w("CREATE INDEX orders_cat_amount ON orders(category, amount);")
    w("CREATE INDEX customers_city ON customers(city);")
    w("ANALYZE;")
    w(".headers on")
    queries = [
        "SELECT count(*), sum(amount), min(amount), max(amount), sum(qty) FROM orders;",
        "SELECT category, count(*), sum(amount), printf('%.4f', avg(amount)),"
        " sum(amount*qty) FROM orders GROUP BY category ORDER BY category;",
        "SELECT c.city, count(*) AS n, sum(o.amount) AS total FROM orders o"
        " JOIN customers c ON c.id = o.customer_id GROUP BY c.city"
        " ORDER BY total DESC, c.city LIMIT 40;",
        "SELECT c.id, c.name, count(o.id), coalesce(sum(o.amount),0) FROM customers c"
        " LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id"
        " ORDER BY 4 DESC, c.id LIMIT 50;",
        "SELECT o.category, k.vat, sum(o.amount * k.vat / 100) FROM orders o"
        " JOIN categories k ON k.name = o.category GROUP BY o.category ORDER BY 1;",
        "SELECT joined, count(DISTINCT city), count(*) FROM customers GROUP BY joined"
        " HAVING count(*) > 10 ORDER BY joined;",
        "SELECT count(*), sum(length(note)) FROM orders WHERE note LIKE '%ab%';",
        "SELECT id, amount, category FROM orders WHERE category='tools' AND amount"
        " BETWEEN 1000 AND 1500 ORDER BY amount, id;",
        "SELECT customer_id, group_concat(id, ',') FROM (SELECT customer_id, id FROM"
        " orders WHERE customer_id % 97 = 3 ORDER BY id) GROUP BY customer_id"
        " ORDER BY customer_id;",
        "SELECT id, customer_id, amount, rank() OVER (PARTITION BY category ORDER BY"
        " amount DESC, id) AS r, sum(amount) OVER (PARTITION BY category ORDER BY"
        " amount DESC, id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM orders"
        " WHERE id % 50 = 0 ORDER BY category, r LIMIT 300;",
        "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM seq WHERE x<5000)"
        " SELECT count(*), sum(x*x), group_concat(x % 7, '') FROM seq;",
        "SELECT upper(substr(name, 1, 3)) AS p, count(*) FROM customers GROUP BY p"
        " ORDER BY 2 DESC, p LIMIT 30;",
        "SELECT c.city, o.category, max(o.amount) FROM orders o JOIN customers c"
        " ON c.id=o.customer_id WHERE c.city < 'd' GROUP BY 1,2 ORDER BY 1,2;",
        "UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0;",
        "DELETE FROM orders WHERE qty = 7;",
        "SELECT count(*), sum(amount), total_changes() FROM orders;",
        "CREATE TABLE big AS SELECT o.id, c.name || ' / ' || o.category || ' / '"
        " || coalesce(o.note, '-') AS label FROM orders o JOIN customers c"
        " ON c.id = o.customer_id;",
        "SELECT count(*), sum(length(label)), max(label) FROM big;",
        "SELECT label FROM big ORDER BY label DESC, id LIMIT 20;",
        "PRAGMA integrity_check;",
    ]
    out.extend(queries)
    with open(path, "w") as f:
        f.write("\n".join(out))
        f.write("\n")


C_KINDS = 6


def gen_c(path, rng):
    """A self-contained, UB-free, malloc-heavy C program (~2000 lines)."""
    L = []
    w = L.append
    w("/* generated by tests/programs/gen_inputs.py; do not edit */")
    w("#include <stdint.h>")
    w("#include <stdio.h>")
    w("#include <stdlib.h>")
    w("#include <string.h>")
    w("")
    w("static void *xmalloc(size_t n) { void *p = malloc(n ? n : 1);"
      " if (!p) { fputs(\"oom\\n\", stderr); exit(2); } return p; }")
    w("static void *xrealloc(void *q, size_t n) { void *p = realloc(q, n ? n : 1);"
      " if (!p) { fputs(\"oom\\n\", stderr); exit(2); } return p; }")
    w("static uint32_t rng_state = 12345u;")
    w("static uint32_t rnd(void) { rng_state ^= rng_state << 13;"
      " rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5; return rng_state; }")
    w("struct node { struct node *next; uint64_t key; char *text; };")
    w("static int cmp_u32(const void *a, const void *b) {")
    w("    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;")
    w("    return (x > y) - (x < y);")
    w("}")
    w("static int cmp_str(const void *a, const void *b) {")
    w("    return strcmp(*(char *const *)a, *(char *const *)b);")
    w("}")
    w("")
    funcs = []
    i = 0
    while len(L) < 1950:
        kind = i % C_KINDS
        a = rng.randint(3, 97)
        b = rng.randint(100, 5000)
        c = rng.randint(1, 31)
        name = "f%03d" % i
        funcs.append(name)
        w("/* %s: kind %d */" % (name, kind))
        w("static uint64_t %s(uint64_t seed) {" % name)
        if kind == 0:  # linked list build, reverse, sum, free
            w("    struct node *head = NULL;")
            w("    uint64_t acc = seed;")
            w("    for (uint32_t i = 0; i < %du; i++) {" % b)
            w("        struct node *n = xmalloc(sizeof *n);")
            w("        n->key = (uint64_t)i * %du + (rnd() %% %du);" % (a, c + 1))
            w("        n->text = xmalloc(1 + n->key %% %du);" % (c + 8))
            w("        memset(n->text, 'a' + (int)(i %% 26), n->key %% %du);" % (c + 8))
            w("        n->text[n->key %% %du] = 0;" % (c + 8))
            w("        n->next = head; head = n;")
            w("    }")
            w("    struct node *rev = NULL;")
            w("    while (head) { struct node *nx = head->next; head->next = rev; rev = head; head = nx; }")
            w("    for (struct node *p = rev; p; ) {")
            w("        struct node *nx = p->next;")
            w("        acc = acc * 1099511628211ull + p->key + strlen(p->text);")
            w("        free(p->text); free(p); p = nx;")
            w("    }")
            w("    return acc;")
        elif kind == 1:  # dynamic array with realloc growth + qsort
            w("    uint32_t *v = NULL; size_t n = 0, cap = 0;")
            w("    for (uint32_t i = 0; i < %du; i++) {" % (b * 4))
            w("        if (n == cap) { cap = cap ? cap * 2 : %du; v = xrealloc(v, cap * sizeof *v); }" % c)
            w("        v[n++] = rnd() %% %du + (uint32_t)seed %% 7u;" % (b * a))
            w("    }")
            w("    qsort(v, n, sizeof *v, cmp_u32);")
            w("    uint64_t acc = 0;")
            w("    for (size_t i = 0; i < n; i += %d) acc += (uint64_t)v[i] * (i + 1);" % (c % 5 + 1))
            w("    v = xrealloc(v, (n / 3 + 1) * sizeof *v);")
            w("    acc ^= v[n / 3];")
            w("    free(v);")
            w("    return acc;")
        elif kind == 2:  # open hash table of strings
            w("    size_t nb = %du;" % (1 << (c % 6 + 6)))
            w("    struct node **tab = calloc(nb, sizeof *tab);")
            w("    if (!tab) exit(2);")
            w("    uint64_t acc = seed;")
            w("    char buf[64];")
            w("    for (uint32_t i = 0; i < %du; i++) {" % b)
            w("        int len = snprintf(buf, sizeof buf, \"k%%u-%%u\", i %% %du, rnd() %% %du);" % (b // 2 + 1, a))
            w("        uint64_t h = 1469598103934665603ull;")
            w("        for (int j = 0; j < len; j++) h = (h ^ (unsigned char)buf[j]) * 1099511628211ull;")
            w("        struct node **pp = &tab[h % nb];")
            w("        while (*pp && strcmp((*pp)->text, buf) != 0) pp = &(*pp)->next;")
            w("        if (*pp) { (*pp)->key++; continue; }")
            w("        struct node *n = xmalloc(sizeof *n);")
            w("        n->text = strdup(buf); if (!n->text) exit(2);")
            w("        n->key = 1; n->next = NULL; *pp = n;")
            w("    }")
            w("    for (size_t i = 0; i < nb; i++) {")
            w("        struct node *p = tab[i];")
            w("        while (p) { struct node *nx = p->next; acc += p->key * (i + 1) + strlen(p->text); free(p->text); free(p); p = nx; }")
            w("    }")
            w("    free(tab);")
            w("    return acc;")
        elif kind == 3:  # strings: build, sort, join
            w("    size_t n = %du;" % (b // 4 + 10))
            w("    char **s = xmalloc(n * sizeof *s);")
            w("    for (size_t i = 0; i < n; i++) {")
            w("        size_t len = 1 + rnd() %% %du;" % (a + c))
            w("        s[i] = xmalloc(len + 1);")
            w("        for (size_t j = 0; j < len; j++) s[i][j] = (char)('a' + rnd() % 26);")
            w("        s[i][len] = 0;")
            w("    }")
            w("    qsort(s, n, sizeof *s, cmp_str);")
            w("    size_t total = 0; char *joined = xmalloc(1); joined[0] = 0;")
            w("    for (size_t i = 0; i < n; i += %du) {" % (c % 3 + 1))
            w("        size_t l = strlen(s[i]);")
            w("        joined = xrealloc(joined, total + l + 2);")
            w("        memcpy(joined + total, s[i], l); total += l;")
            w("        joined[total++] = '|'; joined[total] = 0;")
            w("    }")
            w("    uint64_t acc = seed + total;")
            w("    for (size_t i = 0; joined[i]; i++) acc = acc * 31u + (unsigned char)joined[i];")
            w("    for (size_t i = 0; i < n; i++) free(s[i]);")
            w("    free(s); free(joined);")
            w("    return acc;")
        elif kind == 4:  # matrix / arithmetic with aligned allocations
            w("    size_t n = %du;" % (c + 16))
            w("    uint64_t *m = NULL;")
            w("    if (posix_memalign((void **)&m, 64, n * n * sizeof *m)) exit(2);")
            w("    uint64_t *r = aligned_alloc(32, ((n * sizeof *r + 31) / 32) * 32);")
            w("    if (!r) exit(2);")
            w("    for (size_t i = 0; i < n * n; i++) m[i] = (i * %du + seed) %% %du;" % (a, b))
            w("    for (size_t i = 0; i < n; i++) {")
            w("        r[i] = 0;")
            w("        for (size_t j = 0; j < n; j++) r[i] += m[i * n + j] * m[j * n + i];")
            w("    }")
            w("    uint64_t acc = 0;")
            w("    for (size_t i = 0; i < n; i++) acc = (acc << 3) ^ (acc >> 7) ^ r[i];")
            w("    free(m); free(r);")
            w("    return acc;")
        else:  # churn: many sizes alive at once, freed out of order
            w("    enum { N = %d };" % (c * 8 + 64))
            w("    void *slot[N]; size_t sz[N];")
            w("    memset(slot, 0, sizeof slot);")
            w("    uint64_t acc = seed;")
            w("    for (uint32_t it = 0; it < %du; it++) {" % (b * 2))
            w("        uint32_t k = rnd() % N;")
            w("        if (slot[k]) {")
            w("            unsigned char *p = slot[k];")
            w("            acc += p[0] + p[sz[k] - 1] + sz[k];")
            w("            if (it % 3 == 0) { free(slot[k]); slot[k] = NULL; continue; }")
            w("            size_t ns = 1 + rnd() %% %du;" % (a * 64 if a % 4 else 300000))
            w("            slot[k] = xrealloc(slot[k], ns);")
            w("            if (ns > sz[k]) memset((char *)slot[k] + sz[k], (int)(ns & 0xff), ns - sz[k]);")
            w("            sz[k] = ns;")
            w("        } else {")
            w("            sz[k] = 1 + rnd() %% %du;" % (a * 40))
            w("            slot[k] = xmalloc(sz[k]);")
            w("            memset(slot[k], (int)(it & 0xff), sz[k]);")
            w("        }")
            w("    }")
            w("    for (int k = 0; k < N; k++) free(slot[k]);")
            w("    return acc;")
        w("}")
        w("")
        i += 1
    w("int main(void) {")
    w("    uint64_t total = 0;")
    for n, name in enumerate(funcs):
        w("    { uint64_t r = %s(total + %du); total ^= r + (total << 1);"
          " printf(\"%s %%llu\\n\", (unsigned long long)r); }" % (name, n, name))
    w("    printf(\"total %llu\\n\", (unsigned long long)total);")
    w("    return 0;")
    w("}")
    with open(path, "w") as f:
        f.write("\n".join(L))
        f.write("\n")


def gen_git(root, rng):
    """Five snapshots c1..c5 of a small source tree, for the git test."""
    vocab = words(rng, 2000, 2, 10)
    dirs = ["src", "src/core", "src/util", "src/net", "docs", "docs/api",
            "tests", "tests/unit", "tests/data", "tools", "include", "lib/a",
            "lib/b", "lib/c", "examples"]

    def content(nlines):
        return ["%s %s" % (rng.choice(["fn", "let", "#", "//", "if", "return", "*"]),
                           " ".join(rng.choices(vocab, k=rng.randint(1, 10))))
                for _ in range(nlines)]

    files = {}
    for i in range(900):
        path = "%s/f%03d_%s.txt" % (rng.choice(dirs), i, rng.choice(vocab))
        files[path] = content(rng.randint(5, 80))
    for snap in range(1, 6):
        if snap > 1:
            names = sorted(files)
            for p in rng.sample(names, len(names) // 4):  # modify
                lines = files[p]
                for _ in range(rng.randint(1, 6)):
                    j = rng.randrange(len(lines) + 1)
                    op = rng.random()
                    if op < 0.4 and j < len(lines):
                        lines[j] = content(1)[0]
                    elif op < 0.7 and j < len(lines) and len(lines) > 1:
                        del lines[j]
                    else:
                        lines[j:j] = content(rng.randint(1, 5))
            for p in rng.sample(sorted(files), 30):  # delete
                del files[p]
            for p in rng.sample(sorted(files), 15):  # rename
                files["%s/renamed_%d_%s" % (rng.choice(dirs), snap, p.rsplit("/", 1)[1])] = files.pop(p)
            for i in range(60):  # add
                files["%s/new%d_%03d.txt" % (rng.choice(dirs), snap, i)] = content(rng.randint(5, 60))
        base = os.path.join(root, "c%d" % snap)
        for p in sorted(files):
            full = os.path.join(base, p)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write("\n".join(files[p]))
                f.write("\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen_text(os.path.join(out, "text.txt"), random.Random(SEED), 50 * 1000 * 1000)
    gen_sql(os.path.join(out, "orders.sql"), random.Random(SEED + 1))
    gen_c(os.path.join(out, "big.c"), random.Random(SEED + 2))
    gen_git(os.path.join(out, "git"), random.Random(SEED + 3))


if __name__ == "__main__":
    main()
