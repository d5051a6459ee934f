-- layoutdb schema, version 2: a readable view of measurements and the selector's lookup index.
-- Tables and columns of 001 are unchanged; this migration only adds.

-- The selector asks "every measurement of this unit in this dtype and layout" (and the problems among
-- them); 001's measurements_unit index serves (unit_id, problem_id) only.
CREATE INDEX measurements_lookup ON measurements(unit_id, dtype, layout, problem_id);

-- Transitions are looked up by (unit, src, dst, dtype) and then interpolated over bytes.
CREATE INDEX transitions_lookup ON transitions(unit_id, src_layout, dst_layout, dtype, bytes);

-- One row per measurement with what a person (or a script) needs beside it: the problem's key and op,
-- the unit's name and kind, and the fingerprint of the target it was measured on.
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
       m.measured_at   AS measured_at
FROM measurements m
JOIN problems p ON p.id = m.problem_id
JOIN units u ON u.id = m.unit_id
JOIN targets t ON t.id = u.target_id;
