#!/usr/bin/env bash
# Reproducibility of two sweeps of the same spec on the same machine (A.db, B.db):
#  - winners: for every (problem, unit, dtype) whose best layout in A leads its runner-up by more than
#    3%, whether B picks the same best layout;
#  - medians: the fraction of (problem, unit, layout, dtype) points whose medians agree within 5%.
# usage: scripts/compare_sweeps.sh A.db B.db      (needs the sqlite3 command-line tool)
set -euo pipefail
a=$1 b=$2
sqlite3 -bail "$a" <<SQL
ATTACH '$b' AS b;
CREATE TEMP VIEW pa AS
  SELECT p.key, u.name AS unit, m.layout, m.dtype, m.median_us FROM main.measurements m
  JOIN main.problems p ON p.id = m.problem_id JOIN main.units u ON u.id = m.unit_id
  WHERE m.status = 'ok' AND m.is_reference = 0 AND m.layout <> 'any';
CREATE TEMP VIEW pb AS
  SELECT p.key, u.name AS unit, m.layout, m.dtype, m.median_us FROM b.measurements m
  JOIN b.problems p ON p.id = m.problem_id JOIN b.units u ON u.id = m.unit_id
  WHERE m.status = 'ok' AND m.is_reference = 0 AND m.layout <> 'any';
CREATE TEMP VIEW ranked_a AS
  SELECT *, row_number() OVER (PARTITION BY key, unit, dtype ORDER BY median_us) AS r FROM pa;
CREATE TEMP VIEW ranked_b AS
  SELECT *, row_number() OVER (PARTITION BY key, unit, dtype ORDER BY median_us) AS r FROM pb;
CREATE TEMP VIEW clear_a AS
  SELECT w.key, w.unit, w.dtype, w.layout, s.median_us / w.median_us - 1 AS lead
  FROM ranked_a w JOIN ranked_a s USING (key, unit, dtype) WHERE w.r = 1 AND s.r = 2
  AND s.median_us / w.median_us - 1 > 0.03;
SELECT printf('winners: %d of %d problems with a >3%% lead keep their winner (%.1f%%)',
  sum(ca.layout = rb.layout), count(*), 100.0 * sum(ca.layout = rb.layout) / count(*))
  FROM clear_a ca JOIN ranked_b rb ON rb.key = ca.key AND rb.unit = ca.unit AND rb.dtype = ca.dtype AND rb.r = 1;
SELECT printf('medians: %d of %d points agree within 5%% (%.1f%%); median |difference| %.2f%%',
  sum(abs(pb.median_us / pa.median_us - 1) <= 0.05), count(*),
  100.0 * sum(abs(pb.median_us / pa.median_us - 1) <= 0.05) / count(*),
  100.0 * (SELECT d FROM (SELECT abs(pb2.median_us / pa2.median_us - 1) AS d FROM pa pa2 JOIN pb pb2 USING (key, unit, layout, dtype) ORDER BY d)
           LIMIT 1 OFFSET (SELECT count(*) / 2 FROM pa JOIN pb USING (key, unit, layout, dtype))))
  FROM pa JOIN pb USING (key, unit, layout, dtype);
SQL
