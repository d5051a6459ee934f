-- layoutdb schema, version 4: how true a measurement is, and how it was taken.
-- Tables and columns of 001-003 are unchanged; this migration only adds (and recreates the view
-- measurement_view with the new columns after the old ones). Rows measured before it have NULLs here.
--
-- measurements, transitions, transfers:
--   stable          1: the 95% CI of the median reached the spec's target_rel_ci within the point's
--                   budget; 0: the budget ran out first (the stored rel_ci says how wide it stayed)
--   timer           the clock of median_us .. rel_ci: 'host' (steady clock around execute + wait, on
--                   the host: the cpu unit) or 'event' (an OpenCL device's profiling events, START..END,
--                   which leave out enqueue, submission and waking the device's threads)
--   host_median_us, host_p10_us, host_p90_us
--                   the same runs on the host's steady clock, from before the enqueue to after the
--                   wait: what an application sees. Equal to median_us .. p90_us when timer = 'host'.
--                   The selector compares units by these.
--   cache_mode      'hot' (repetitions back to back) or 'cold' (the caches evicted before every
--                   repetition by touching a buffer twice the last-level cache)
ALTER TABLE measurements ADD COLUMN stable INTEGER CHECK (stable IN (0, 1));
ALTER TABLE measurements ADD COLUMN timer TEXT CHECK (timer IN ('host', 'event'));
ALTER TABLE measurements ADD COLUMN host_median_us REAL;
ALTER TABLE measurements ADD COLUMN host_p10_us REAL;
ALTER TABLE measurements ADD COLUMN host_p90_us REAL;
ALTER TABLE measurements ADD COLUMN cache_mode TEXT CHECK (cache_mode IN ('hot', 'cold'));

ALTER TABLE transitions ADD COLUMN stable INTEGER CHECK (stable IN (0, 1));
ALTER TABLE transitions ADD COLUMN timer TEXT CHECK (timer IN ('host', 'event'));
ALTER TABLE transitions ADD COLUMN host_median_us REAL;
ALTER TABLE transitions ADD COLUMN host_p10_us REAL;
ALTER TABLE transitions ADD COLUMN host_p90_us REAL;
ALTER TABLE transitions ADD COLUMN cache_mode TEXT CHECK (cache_mode IN ('hot', 'cold'));

ALTER TABLE transfers ADD COLUMN stable INTEGER CHECK (stable IN (0, 1));
ALTER TABLE transfers ADD COLUMN timer TEXT CHECK (timer IN ('host', 'event'));
ALTER TABLE transfers ADD COLUMN host_median_us REAL;
ALTER TABLE transfers ADD COLUMN host_p10_us REAL;
ALTER TABLE transfers ADD COLUMN host_p90_us REAL;
ALTER TABLE transfers ADD COLUMN cache_mode TEXT CHECK (cache_mode IN ('hot', 'cold'));

-- sweeps:
--   cache_mode      hot or cold, as above, for every point of the sweep
--   execution       JSON: the CPUs the sweep could actually use (affinity mask, cgroup CPU limit,
--                   OMP_NUM_THREADS, oneDNN's threads, and the resulting thread count)
ALTER TABLE sweeps ADD COLUMN cache_mode TEXT CHECK (cache_mode IN ('hot', 'cold'));
ALTER TABLE sweeps ADD COLUMN execution TEXT;

-- The machine's state through a sweep: two fixed calibration kernels timed at its start, every few
-- points and at its end, so that drift within a sweep and between sweeps can be seen (and measurements
-- re-measured or normalised by a later step). `compute`: a chain of FMAs in registers on one thread
-- (work = FLOPs); `memory`: one thread streaming a buffer twice the last-level cache (work = bytes).
CREATE TABLE calibrations (
  id           INTEGER PRIMARY KEY,
  sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),
  kernel       TEXT NOT NULL CHECK (kernel IN ('compute', 'memory')),
  points_done  INTEGER NOT NULL CHECK (points_done >= 0),  -- the sweep's progress when it was taken
  median_us    REAL NOT NULL CHECK (median_us > 0),
  p10_us       REAL,
  p90_us       REAL,
  repetitions  INTEGER NOT NULL CHECK (repetitions > 0),
  work         REAL NOT NULL CHECK (work > 0),
  measured_at  TEXT NOT NULL
) STRICT;
CREATE INDEX calibrations_sweep ON calibrations(sweep_id, kernel);

DROP VIEW measurement_view;
CREATE VIEW measurement_view AS
SELECT m.id            AS id,
       t.fingerprint   AS target,
       u.name          AS unit,
       u.kind          AS unit_kind,
       p.op            AS op,
       p.key           AS problem,
       p.flops         AS flops,
       p.bytes         AS bytes,
       m.layout        AS layout,
       m.src_layout    AS src_layout,
       m.dst_layout    AS dst_layout,
       m.dtype         AS dtype,
       m.status        AS status,
       m.reason        AS reason,
       m.impl          AS impl,
       m.is_reference  AS is_reference,
       m.chosen_layout AS chosen_layout,
       m.median_us     AS median_us,
       m.p10_us        AS p10_us,
       m.p90_us        AS p90_us,
       m.repetitions   AS repetitions,
       m.rel_ci        AS rel_ci,
       CASE WHEN m.median_us > 0 THEN p.flops / (m.median_us * 1e3) END AS gflops,
       m.sweep_id      AS sweep_id,
       m.measured_at   AS measured_at,
       m.stable        AS stable,
       m.timer         AS timer,
       m.host_median_us AS host_median_us,
       m.host_p10_us   AS host_p10_us,
       m.host_p90_us   AS host_p90_us,
       m.cache_mode    AS cache_mode
FROM measurements m
JOIN problems p ON p.id = m.problem_id
JOIN units u ON u.id = m.unit_id
JOIN targets t ON t.id = u.target_id;
