-- layoutdb schema, version 5 (branch wip-passes; to be renumbered at merge): the visits of a point.
-- Tables and columns of 001-004 are unchanged.
--
-- A sweep measures every point (a problem on a unit with all its candidates; the reorders of one shape;
-- the transfers of one size) in several visits at separate moments, each with a share of the point's
-- budget, and writes the row of measurements / transitions / transfers once, from all its visits:
-- median_us the median of the visits' medians, repetitions all runs, rel_ci including the spread
-- between the visits, stable = rel_ci within the spec's target. This table holds every visit of every
-- candidate, one row each, committed with the visit, so that a sweep killed between visits resumes
-- without losing or repeating one, and so that the spread between moments can be read afterwards.
--   kind        which table the candidate's row goes to: measurement, transition or transfer
--   key         the candidate's identity in that table, as the sweep's resume keys write it:
--               measurement 'problem_id|unit_id|layout|dtype'; transition
--               'unit_id|src_layout|dst_layout|dtype|shape'; transfer 'src_unit_id|dst_unit_id|method|bytes'
--   visit       1, 2, ...: visits beyond the spec's count are re-measurements of a point whose visits
--               disagreed because the machine moved (all its candidates together)
--   settled     0 while the point's row is not yet written from its visits; 1 once it is
--   status .. config, median_us .. cache_mode: as in measurements, for this visit alone
CREATE TABLE visits (
  id             INTEGER PRIMARY KEY,
  sweep_id       INTEGER NOT NULL REFERENCES sweeps(id),
  kind           TEXT NOT NULL CHECK (kind IN ('measurement', 'transition', 'transfer')),
  key            TEXT NOT NULL,
  visit          INTEGER NOT NULL CHECK (visit >= 1),
  settled        INTEGER NOT NULL DEFAULT 0 CHECK (settled IN (0, 1)),
  status         TEXT NOT NULL CHECK (status IN ('ok', 'unsupported', 'failed')),
  reason         TEXT,
  impl           TEXT,
  is_reference   INTEGER NOT NULL DEFAULT 0 CHECK (is_reference IN (0, 1)),
  chosen_layout  TEXT,
  config         TEXT,
  median_us      REAL,
  p10_us         REAL,
  p90_us         REAL,
  mean_us        REAL,
  stddev_us      REAL,
  min_us         REAL,
  repetitions    INTEGER,
  rel_ci         REAL,
  stable         INTEGER CHECK (stable IN (0, 1)),
  timer          TEXT CHECK (timer IN ('host', 'event')),
  host_median_us REAL,
  host_p10_us    REAL,
  host_p90_us    REAL,
  cache_mode     TEXT CHECK (cache_mode IN ('hot', 'cold')),
  measured_at    TEXT NOT NULL,
  UNIQUE (kind, key, visit)
) STRICT;
CREATE INDEX visits_open ON visits(settled, kind, key);
