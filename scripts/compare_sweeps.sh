#!/usr/bin/env bash
# Reproducibility of two sweeps of the same spec on the same machine (A.db, B.db):
#  - winners: for every (problem, unit, dtype) whose best layout in A leads its runner-up by more than
#    3%, whether B picks the same best layout;
#  - medians: the fraction of (problem, unit, layout, dtype) points whose medians agree within 5%;
#  - both again per unit and per op family, and for the points both sweeps call stable (schema 4);
#  - honesty: how often B's median falls inside A's stored 95% interval (a stored interval that covers
#    the other run's median far less than 95% of the time understates the spread between runs);
#  - the machine: the calibration kernels of both files (schema 4), and this machine's load now;
#  - visits (files with a `visits` table): per file, how often a point's visits within the sweep agree
#    within 5%, their median spread, and how many points were re-visited because they moved.
# usage: scripts/compare_sweeps.sh A.db B.db      (needs the sqlite3 command-line tool)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 A.db B.db" >&2
  exit 2
fi
a=$1 b=$2
for f in "$a" "$b"; do
  [ -f "$f" ] || { echo "$0: $f: no such file" >&2; exit 2; }
done
version() { sqlite3 "file:$1?mode=ro" "PRAGMA user_version"; }
truth=1
if [ "$(version "$a")" -lt 4 ] || [ "$(version "$b")" -lt 4 ]; then truth=0; fi

# Ok points, not reference kernels, not oneDNN's `any` (it duplicates the layout it chose).
points() {  # $1: schema (main or b)
  local stable="NULL"
  [ "$truth" = 1 ] && stable="m.stable"
  echo "SELECT p.key, p.op, u.name AS unit, m.layout, m.dtype, m.median_us, m.rel_ci, $stable AS stable
        FROM $1.measurements m JOIN $1.problems p ON p.id = m.problem_id JOIN $1.units u ON u.id = m.unit_id
        WHERE m.status = 'ok' AND m.is_reference = 0 AND m.layout <> 'any'"
}

sqlite3 -bail "file:$a?mode=ro" <<SQL
ATTACH 'file:$b?mode=ro' AS b;
CREATE TEMP VIEW pa AS $(points main);
CREATE TEMP VIEW pb AS $(points b);
CREATE TEMP VIEW ranked_a AS
  SELECT *, row_number() OVER (PARTITION BY key, unit, dtype ORDER BY median_us) AS r FROM pa;
CREATE TEMP VIEW ranked_b AS
  SELECT *, row_number() OVER (PARTITION BY key, unit, dtype ORDER BY median_us) AS r FROM pb;
CREATE TEMP VIEW clear_a AS
  SELECT w.key, w.op, w.unit, w.dtype, w.layout, s.median_us / w.median_us - 1 AS lead
  FROM ranked_a w JOIN ranked_a s USING (key, unit, dtype) WHERE w.r = 1 AND s.r = 2
  AND s.median_us / w.median_us - 1 > 0.03;
CREATE TEMP TABLE win AS
  SELECT ca.op, ca.unit, ca.layout = rb.layout AS kept
  FROM clear_a ca JOIN ranked_b rb ON rb.key = ca.key AND rb.unit = ca.unit AND rb.dtype = ca.dtype AND rb.r = 1;
CREATE TEMP TABLE pair AS
  SELECT pa.op, pa.unit, abs(pb.median_us / pa.median_us - 1) AS d,
         pa.stable = 1 AND pb.stable = 1 AS both_stable,
         abs(pb.median_us / pa.median_us - 1) <= pa.rel_ci AS covered
  FROM pa JOIN pb USING (key, unit, layout, dtype);

SELECT printf('winners: %d of %d problems with a >3%% lead keep their winner (%.1f%%)',
  sum(kept), count(*), 100.0 * sum(kept) / count(*)) FROM win;
SELECT printf('medians: %d of %d points agree within 5%% (%.1f%%); median |difference| %.2f%%',
  sum(d <= 0.05), count(*), 100.0 * sum(d <= 0.05) / count(*),
  100.0 * (SELECT d FROM pair ORDER BY d LIMIT 1 OFFSET (SELECT count(*) / 2 FROM pair)))
  FROM pair;
SELECT printf('intervals: B''s median inside A''s stored 95%% interval for %d of %d points (%.1f%%; an honest interval: ~95%%)',
  sum(covered), count(*), 100.0 * sum(covered) / count(*)) FROM pair;
SELECT CASE WHEN $truth = 0 THEN 'stable points: not recorded (a file of schema < 4)'
  ELSE printf('stable points: A %d of %d, B %d of %d; medians of points stable in both agree within 5%% for %d of %d (%.1f%%)',
    (SELECT sum(stable = 1) FROM pa), (SELECT count(*) FROM pa), (SELECT sum(stable = 1) FROM pb), (SELECT count(*) FROM pb),
    (SELECT sum(d <= 0.05) FROM pair WHERE both_stable), (SELECT count(*) FROM pair WHERE both_stable),
    100.0 * (SELECT sum(d <= 0.05) FROM pair WHERE both_stable) / max(1, (SELECT count(*) FROM pair WHERE both_stable))) END;

SELECT 'per unit:';
SELECT printf('  %-10s winners %4d of %4d (%5.1f%%)   medians within 5%%: %5d of %5d (%5.1f%%)',
  x.unit, coalesce(w.kept, 0), coalesce(w.n, 0), 100.0 * coalesce(w.kept, 0) / max(1, coalesce(w.n, 0)),
  x.within, x.n, 100.0 * x.within / x.n)
  FROM (SELECT unit, sum(d <= 0.05) AS within, count(*) AS n FROM pair GROUP BY unit) x
  LEFT JOIN (SELECT unit, sum(kept) AS kept, count(*) AS n FROM win GROUP BY unit) w USING (unit)
  ORDER BY x.unit <> 'cpu', x.unit;
SELECT 'per op family:';
SELECT printf('  %-10s winners %4d of %4d (%5.1f%%)   medians within 5%%: %5d of %5d (%5.1f%%)',
  x.op, coalesce(w.kept, 0), coalesce(w.n, 0), 100.0 * coalesce(w.kept, 0) / max(1, coalesce(w.n, 0)),
  x.within, x.n, 100.0 * x.within / x.n)
  FROM (SELECT op, sum(d <= 0.05) AS within, count(*) AS n FROM pair GROUP BY op) x
  LEFT JOIN (SELECT op, sum(kept) AS kept, count(*) AS n FROM win GROUP BY op) w USING (op)
  ORDER BY x.op;
SQL

if [ "$truth" = 1 ]; then
  # The machine itself: the calibration kernels' medians over each file's sweeps, and their range.
  sqlite3 -bail "file:$a?mode=ro" <<SQL
ATTACH 'file:$b?mode=ro' AS b;
CREATE TEMP VIEW cal AS
  SELECT 'A' AS f, kernel, median_us FROM main.calibrations UNION ALL
  SELECT 'B', kernel, median_us FROM b.calibrations;
SELECT 'calibration (the machine through each sweep):';
SELECT printf('  %-8s A %9.1f us (range %4.1f%%, %d checks)   B %9.1f us (range %4.1f%%, %d checks)   B/A %.3f',
  k.kernel, ma, 100 * (xa - na) / ma, ca, mb, 100 * (xb - nb) / mb, cb, mb / ma)
  FROM (SELECT kernel,
          (SELECT avg(median_us) FROM cal WHERE f = 'A' AND kernel = c.kernel) AS ma,
          (SELECT min(median_us) FROM cal WHERE f = 'A' AND kernel = c.kernel) AS na,
          (SELECT max(median_us) FROM cal WHERE f = 'A' AND kernel = c.kernel) AS xa,
          (SELECT count(*) FROM cal WHERE f = 'A' AND kernel = c.kernel) AS ca,
          (SELECT avg(median_us) FROM cal WHERE f = 'B' AND kernel = c.kernel) AS mb,
          (SELECT min(median_us) FROM cal WHERE f = 'B' AND kernel = c.kernel) AS nb,
          (SELECT max(median_us) FROM cal WHERE f = 'B' AND kernel = c.kernel) AS xb,
          (SELECT count(*) FROM cal WHERE f = 'B' AND kernel = c.kernel) AS cb
        FROM (SELECT DISTINCT kernel FROM cal) c) k
  WHERE ma > 0 AND mb > 0 ORDER BY k.kernel;
SQL
fi

# The visits of each file (schema with a `visits` table: every point measured at several moments):
# how often one point's visits, a pass apart within one sweep, already agree within 5% — the spread
# between moments that two sweeps see too — and how many points were re-visited.
has_visits() { sqlite3 "file:$1?mode=ro" "SELECT count(*) FROM sqlite_schema WHERE name = 'visits'"; }
for f in A B; do
  path=$a
  [ "$f" = B ] && path=$b
  if [ "$(has_visits "$path")" = 0 ]; then
    echo "visits $f: not recorded (one visit a point)"
    continue
  fi
  sqlite3 -bail "file:$path?mode=ro" <<SQL
CREATE TEMP TABLE pv AS
  SELECT m.id, count(*) AS n, (max(v.median_us) - min(v.median_us)) / m.median_us AS spread
  FROM measurements m JOIN visits v ON v.kind = 'measurement' AND v.settled = 1 AND v.status = 'ok'
    AND v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype
  WHERE m.status = 'ok' AND m.is_reference = 0 AND m.layout <> 'any' GROUP BY m.id;
SELECT CASE WHEN count(*) = 0 THEN 'visits $f: none stored' ELSE
  printf('visits $f: %d a point, %d points; their visits agree within 5%% for %d (%.1f%%), median spread %.2f%%; %d re-visited',
    min(n), count(*), sum(spread <= 0.05), 100.0 * sum(spread <= 0.05) / count(*),
    100.0 * (SELECT spread FROM pv ORDER BY spread LIMIT 1 OFFSET (SELECT (count(*) - 1) / 2 FROM pv)),
    sum(n > (SELECT min(n) FROM pv))) END
  FROM pv;
SQL
done

# Reproducibility figures need a quiet machine: say so when this one is not.
cpus=$(nproc 2>/dev/null || echo 1)
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > 0.25 * c) }'; then
  echo "note: load average now $load on $cpus CPUs: if the sweeps ran under such load, these are figures of a loaded machine, not of its reproducibility"
fi
