# sqlite_gen.awk: generates the SQL script of the sqlite3 workload (run with
# awk -v N=rows). N rows go in through multi-row INSERT statements (100 rows
# each) in one transaction, then indexes, joins, aggregates, an UPDATE and a
# DELETE; every SELECT result is deterministic so outputs can be compared.
BEGIN {
  s = 12345;  # LCG kept below 2^53 so every awk computes it exactly
  print "PRAGMA cache_size=-65536;";
  print "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, cat INTEGER, val REAL, note TEXT);";
  print "CREATE TABLE c(cat INTEGER PRIMARY KEY, label TEXT);";
  print "BEGIN;";
  for (i = 0; i < 100; i++) printf "INSERT INTO c VALUES(%d,'category-%d');\n", i, i * 7;
  for (i = 1; i <= N; i++) {
    s = (s * 69069 + 1) % 4294967296;
    printf "%s(%d,'name-%d-%x',%d,%d.%02d,'%s')%s\n", (i % 100 == 1 ? "INSERT INTO t VALUES" : ""), i, s % 100000, s, s % 100, s % 10000, i % 100, substr("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod", 1 + s % 20, 8 + s % 40), (i % 100 == 0 || i == N ? ";" : ",");
  }
  print "COMMIT;";
  print "CREATE INDEX t_name ON t(name);";
  print "CREATE INDEX t_cat_val ON t(cat, val);";
  print "SELECT count(*), sum(cat), round(sum(val), 2) FROM t;";
  print "SELECT c.label, count(*), round(avg(t.val), 3) FROM t JOIN c USING(cat) GROUP BY c.label ORDER BY 2 DESC, 1 LIMIT 5;";
  print "SELECT count(*) FROM t WHERE name LIKE 'name-1%';";
  print "SELECT note, count(*) FROM t GROUP BY note ORDER BY 2 DESC, 1 LIMIT 3;";
  print "SELECT count(DISTINCT name) FROM t;";
  print "UPDATE t SET note = note || '-updated', val = val * 2 WHERE cat < 30;";
  print "DELETE FROM t WHERE id % 7 = 0;";
  print "SELECT count(*), round(sum(val), 2) FROM t;";
  print "SELECT group_concat(name, ';') FROM (SELECT name FROM t ORDER BY val DESC, id LIMIT 20);";
  print "SELECT cat, max(length(note)) FROM t GROUP BY cat ORDER BY cat LIMIT 3;";
}
