#!/usr/bin/env bash
# Measure malloc request sizes of real programs with tools/sizehist.so.
#
#   bash tools/sizehist_run.sh            # from the repo root
#   python3 tools/sizehist_report.py tools/build/sizehist.txt
#
# Builds tools/build/sizehist.so, generates inputs (without the shim) in a
# temporary directory (removed at the end; SIZEHIST_KEEP=1 keeps it), runs each
# workload with LD_PRELOAD, appends the per-process records to
# tools/build/sizehist.txt (truncated first) and writes the Markdown summary to
# tools/build/sizehist.md.
set -euo pipefail
export LC_ALL=C LANG=C
unset LD_PRELOAD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$ROOT/tools/build
W=$(mktemp -d "${TMPDIR:-/tmp}/sizehist.XXXXXX")
[ -n "${SIZEHIST_KEEP:-}" ] && echo "work dir: $W" || trap 'rm -rf "$W"' EXIT
OUT=$B/sizehist.txt
mkdir -p "$B"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$B/sizehist.so" "$ROOT/tools/sizehist.c" -ldl
SO=$B/sizehist.so
PY=$(python3 -c 'import sys; print(sys.executable)')   # the real binary, not a pyenv shim
: >"$OUT"

# Run "$@" under the shim, records labelled $1 (label) ...
S() { local label=$1; shift
      SIZEHIST_OUT=$OUT SIZEHIST_LABEL=$label LD_PRELOAD=$SO "$@"; }

# ---------------------------------------------------------------- inputs
"$PY" - "$W" <<'EOF'
import random, sys, os
w = sys.argv[1]
r = random.Random(42)
L = "abcdefghijklmnopqrstuvwxyz"
def word(): return "".join(r.choice(L) for _ in range(r.randint(2, 12)))
# ~20 MB text, lines of 1..12 words with a number
with open(os.path.join(w, "text20m.txt"), "w") as f:
    n = 0
    while n < 20_000_000:
        line = "%d %s\n" % (r.randint(0, 10**9), " ".join(word() for _ in range(r.randint(1, 12))))
        f.write(line); n += len(line)
# sqlite: 100k INSERT statements, then queries
with open(os.path.join(w, "db.sql"), "w") as f:
    f.write("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, note TEXT);\n")
    f.write("CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);\nBEGIN;\n")
    for i in range(1000):
        f.write("INSERT INTO g VALUES(%d,'%s');\n" % (i, word()))
    for i in range(100_000):
        f.write("INSERT INTO t(name,grp,val,note) VALUES('%s',%d,%f,'%s');\n"
                % (word(), r.randint(0, 999), r.random() * 1000, " ".join(word() for _ in range(r.randint(0, 20)))))
    f.write("COMMIT;\nCREATE INDEX t_name ON t(name);\nCREATE INDEX t_grp ON t(grp);\n")
    f.write("SELECT count(*), sum(val) FROM t;\n")
    f.write("SELECT grp, count(*), avg(val), max(length(note)) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 5;\n")
    f.write("SELECT g.label, count(*) FROM t JOIN g USING(grp) WHERE t.name LIKE 'a%' GROUP BY g.label ORDER BY 2 DESC LIMIT 5;\n")
    f.write("SELECT name, count(*) c FROM t GROUP BY name HAVING c > 3 ORDER BY c DESC LIMIT 5;\n")
    f.write("SELECT id, name FROM t ORDER BY note, val LIMIT 3;\n")
    f.write("SELECT group_concat(name, ',') IS NOT NULL FROM t WHERE grp < 50;\n")
    f.write("UPDATE t SET note = note || ' x' WHERE grp % 7 = 0;\nDELETE FROM t WHERE grp % 11 = 0;\nVACUUM;\n")
# ~2000-line C file: structs, switch, loops, string handling, many functions
with open(os.path.join(w, "big.c"), "w") as f:
    f.write("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n\n")
    f.write("struct node { int key; double w; char name[32]; struct node *next; };\n\n")
    for i in range(95):
        f.write(f"""static double fn{i}(struct node *h, int n, const char *s)
{{
    double acc = {i}.5;
    for (int k = 0; k < n; k++) {{
        switch ((k + {i}) % 5) {{
        case 0: acc += h ? h->w * k : k; break;
        case 1: acc -= sqrt((double)(k + {i})); break;
        case 2: acc *= 1.0001; break;
        case 3: if (s && s[k % 7]) acc += (unsigned char)s[k % 7]; break;
        default: acc /= 1.5; break;
        }}
    }}
    while (h) {{
        if (strlen(h->name) > {i % 9}) acc += h->key;
        h = h->next;
    }}
    return acc;
}}

""")
    f.write("int main(int argc, char **argv)\n{\n    struct node n = {1, 2.0, \"abc\", NULL};\n    double t = 0;\n")
    for i in range(95):
        f.write(f"    t += fn{i}(&n, argc * 10, argv[0]);\n")
    f.write("    printf(\"%f\\n\", t);\n    return 0;\n}\n")
# python workload
open(os.path.join(w, "work.py"), "w").write(r'''
import json, random, re, collections
r = random.Random(7)
L = "abcdefghijklmnopqrstuvwxyz"
def word(): return "".join(r.choice(L) for _ in range(r.randint(2, 12)))
class Point:
    def __init__(self, x, y): self.x, self.y = x, y
    def __add__(self, o): return Point(self.x + o.x, self.y + o.y)
class Rec:
    __slots__ = ("name", "tags", "score")
    def __init__(self, name, tags, score): self.name, self.tags, self.score = name, tags, score
# dicts
d = {}
for i in range(300_000):
    d[word()] = i
counts = collections.Counter(w[0] for w in d)
nested = {k: {"id": v, "tags": [word() for _ in range(3)]} for k, v in list(d.items())[:50_000]}
# json
s = json.dumps(nested)
back = json.loads(s)
for _ in range(3):
    s2 = json.dumps([{"a": i, "b": word(), "c": [i] * (i % 10)} for i in range(50_000)], indent=1)
    json.loads(s2)
# strings
text = " ".join(word() for _ in range(500_000))
up = text.upper(); parts = text.split(); joined = "-".join(parts)
found = re.findall(r"\b[a-e]\w{3,5}\b", text)
sub = re.sub(r"(\w+)e\b", r"<\1>", text)
fmt = ["%s:%d:%.2f" % (p, i, i / 3) for i, p in enumerate(parts[:200_000])]
# classes
pts = [Point(i, -i) for i in range(300_000)]
tot = Point(0, 0)
for p in pts: tot = tot + p
recs = sorted((Rec(word(), [word()], r.random()) for _ in range(200_000)), key=lambda x: x.score)
big = [list(range(i % 1000)) for i in range(5000)]
print(len(d), len(counts), len(back), len(found), len(sub), tot.x, len(recs), len(fmt), sum(map(len, big)))
''')
# perl workload
open(os.path.join(w, "work.pl"), "w").write(r'''
use strict; use warnings;
srand(7); my @L = ('a'..'z');
sub word { join '', map { $L[int rand 26] } 1 .. 2 + int rand 11 }
my %h; $h{word()} = $_ for 1 .. 300_000;
my %by; push @{ $by{substr($_, 0, 2)} }, $_ for keys %h;
my $text = join ' ', map { word() } 1 .. 500_000;
my @m = $text =~ /\b([a-e]\w{3,5})\b/g;
(my $t2 = $text) =~ s/(\w+)e\b/<$1>/g;
my @parts = split / /, $text;
my %cnt; $cnt{$_}++ for @parts;
my @top = (sort { $cnt{$b} <=> $cnt{$a} || $a cmp $b } keys %cnt)[0 .. 9];
my @recs = map { { name => word(), tags => [word(), word()], n => $_ } } 1 .. 100_000;
my $s = join "\n", map { sprintf "%s:%d:%s", $_->{name}, $_->{n}, join(',', @{$_->{tags}}) } @recs;
my @lines = grep { /^[a-m]\w*:\d+[05]:/ } split /\n/, $s;
print scalar(keys %h), " ", scalar(keys %by), " ", scalar(@m), " ", length($t2), " @top[0..2] ", scalar(@lines), "\n";
''')
EOF
# git source tree: 2000 files in 40 dirs (sizes 100 B .. 40 KB), generated without the shim
mkdir -p "$W/repo"
"$PY" - "$W/repo" <<'EOF'
import random, sys, os
r = random.Random(3); L = "abcdefghijklmnopqrstuvwxyz \n"
for d in range(40):
    os.makedirs(os.path.join(sys.argv[1], "d%02d" % d), exist_ok=True)
    for i in range(50):
        n = int(100 * (400 ** r.random()))
        with open(os.path.join(sys.argv[1], "d%02d" % d, "f%03d.txt" % i), "w") as f:
            f.write("".join(r.choice(L) for _ in range(n)))
EOF

# ---------------------------------------------------------------- workloads
echo "python";  PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 S python "$PY" "$W/work.py"
echo "sqlite3"; S sqlite3 sqlite3 "$W/test.db" <"$W/db.sql" >/dev/null
echo "gcc";     S gcc gcc -O2 -o "$W/big" "$W/big.c" -lm
echo "git"
( cd "$W/repo"
  export GIT_CONFIG_NOSYSTEM=1 HOME=$W GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b
  S git git init -q .
  S git git add -A
  S git git commit -q -m initial
  for d in 00 01 02 03 04 05 06 07 08 09; do sed -i 's/a/A/g' d$d/f0*.txt; S git git commit -q -am "edit $d"; done
  S git git log --stat >/dev/null
  S git git log -p -3 >/dev/null
  S git git gc -q --aggressive
  S git git fsck --no-progress )
echo "perl";    S perl perl "$W/work.pl"
echo "sort";    S sort sort -o "$W/sorted.txt" "$W/text20m.txt"
echo "xz";      S xz xz -T2 -k -c "$W/text20m.txt" >"$W/text20m.txt.xz"
echo "ls";      S ls ls -R /usr >/dev/null
echo "records in $OUT: $(grep -c ' end$' "$OUT") processes"
"$PY" "$ROOT/tools/sizehist_report.py" "$OUT" >"$B/sizehist.md"
echo "summary: $B/sizehist.md"
