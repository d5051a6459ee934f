-- layoutdb schema, version 1. Applied inside one BEGIN IMMEDIATE transaction by db/migrate.
-- Scripts outside the code read these table and column names: keep them stable; add columns in new
-- migrations rather than renaming.

-- One row per machine that was profiled. `fingerprint` is a hash of the identity fields below; rows of
-- different targets are never mixed in one sweep.
CREATE TABLE targets (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL UNIQUE,
  hostname    TEXT NOT NULL,
  cpu_model   TEXT NOT NULL,
  isa         TEXT NOT NULL,           -- the ISA oneDNN dispatches, e.g. avx512_core_bf16
  cores       INTEGER NOT NULL CHECK (cores > 0),
  threads     INTEGER NOT NULL CHECK (threads > 0),
  caches      TEXT NOT NULL,           -- JSON object: l1d, l2, l3 bytes
  os          TEXT NOT NULL,
  libraries   TEXT NOT NULL,           -- JSON object: onednn, opencl drivers, ...
  created_at  TEXT NOT NULL
) STRICT;

-- Computing units of a target: `cpu` (oneDNN CPU engine) and `ocl:P:D` (OpenCL platform P, device D).
CREATE TABLE units (
  id             INTEGER PRIMARY KEY,
  target_id      INTEGER NOT NULL REFERENCES targets(id),
  name           TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('cpu', 'opencl')),
  vendor         TEXT NOT NULL,
  device_name    TEXT NOT NULL,
  driver         TEXT NOT NULL,
  compute_units  INTEGER NOT NULL CHECK (compute_units > 0),
  clock_mhz      INTEGER,
  global_mem     INTEGER,              -- bytes
  local_mem      INTEGER,              -- bytes
  properties     TEXT NOT NULL,        -- JSON object with everything else `layoutdb devices` shows
  UNIQUE (target_id, name)
) STRICT;

-- One row per run of `layoutdb sweep` (per shard).
CREATE TABLE sweeps (
  id            INTEGER PRIMARY KEY,
  target_id     INTEGER NOT NULL REFERENCES targets(id),
  spec_name     TEXT NOT NULL,
  spec          TEXT NOT NULL,         -- the spec JSON as run
  spec_hash     TEXT NOT NULL,
  shard_index   INTEGER NOT NULL CHECK (shard_index >= 0),
  shard_count   INTEGER NOT NULL CHECK (shard_count >= 1 AND shard_index < shard_count),
  filters       TEXT NOT NULL,         -- JSON: units, ops, dtypes restrictions given on the command line
  tool_version  TEXT NOT NULL,
  started_at    TEXT NOT NULL,
  ended_at      TEXT,
  status        TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'completed', 'failed')),
  points_total  INTEGER NOT NULL DEFAULT 0,
  points_done   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One operator instance. `key` is the canonical benchdnn-style text; `key_hash` its FNV-1a 64 hash
-- (HashHex), re-checked on load.
CREATE TABLE problems (
  id        INTEGER PRIMARY KEY,
  key       TEXT NOT NULL UNIQUE,
  key_hash  TEXT NOT NULL,
  op        TEXT NOT NULL,
  params    TEXT NOT NULL,             -- JSON object of the key's parameters
  flops     REAL NOT NULL CHECK (flops >= 0),
  bytes     REAL NOT NULL CHECK (bytes >= 0)
) STRICT;
CREATE INDEX problems_op ON problems(op);

-- One (problem, unit, layout, dtype) timed. `layout` names the candidate: `src_layout` when it equals
-- `dst_layout`, else `src>dst`; `any` for the library's own choice (then `chosen_layout` says which).
CREATE TABLE measurements (
  id             INTEGER PRIMARY KEY,
  problem_id     INTEGER NOT NULL REFERENCES problems(id),
  unit_id        INTEGER NOT NULL REFERENCES units(id),
  layout         TEXT NOT NULL,
  src_layout     TEXT NOT NULL,
  dst_layout     TEXT NOT NULL,
  dtype          TEXT NOT NULL CHECK (dtype IN ('f32', 'bf16', 'f16', 'int8')),
  sweep_id       INTEGER REFERENCES sweeps(id),
  status         TEXT NOT NULL CHECK (status IN ('ok', 'unsupported', 'failed', 'mistrusted')),
  reason         TEXT,
  impl           TEXT,                 -- implementation the library chose, e.g. brgconv:avx512_core
  is_reference   INTEGER NOT NULL DEFAULT 0 CHECK (is_reference IN (0, 1)),
  chosen_layout  TEXT,
  config         TEXT,                 -- JSON: tuned work-group size / tile variant (OpenCL)
  median_us      REAL,
  p10_us         REAL,
  p90_us         REAL,
  mean_us        REAL,
  stddev_us      REAL,
  min_us         REAL,
  repetitions    INTEGER,
  rel_ci         REAL,                 -- half-width of the median's 95% CI over the median
  measured_at    TEXT NOT NULL,
  UNIQUE (problem_id, unit_id, layout, dtype),
  CHECK (status <> 'ok' OR (median_us IS NOT NULL AND median_us > 0 AND repetitions > 0))
) STRICT;
CREATE INDEX measurements_unit ON measurements(unit_id, problem_id);

-- Layout changes on one unit (reorders), by tensor shape.
CREATE TABLE transitions (
  id           INTEGER PRIMARY KEY,
  unit_id      INTEGER NOT NULL REFERENCES units(id),
  src_layout   TEXT NOT NULL,
  dst_layout   TEXT NOT NULL,
  dtype        TEXT NOT NULL CHECK (dtype IN ('f32', 'bf16', 'f16', 'int8')),
  shape        TEXT NOT NULL,          -- e.g. mb1c64h56w56
  bytes        INTEGER NOT NULL CHECK (bytes > 0),
  sweep_id     INTEGER REFERENCES sweeps(id),
  status       TEXT NOT NULL CHECK (status IN ('ok', 'unsupported', 'failed', 'mistrusted')),
  reason       TEXT,
  impl         TEXT,
  median_us    REAL,
  p10_us       REAL,
  p90_us       REAL,
  mean_us      REAL,
  stddev_us    REAL,
  min_us       REAL,
  repetitions  INTEGER,
  rel_ci       REAL,
  measured_at  TEXT NOT NULL,
  UNIQUE (unit_id, src_layout, dst_layout, dtype, shape)
) STRICT;

-- Moving a tensor between units (host <-> OpenCL device), by size and method.
CREATE TABLE transfers (
  id           INTEGER PRIMARY KEY,
  src_unit_id  INTEGER NOT NULL REFERENCES units(id),
  dst_unit_id  INTEGER NOT NULL REFERENCES units(id),
  method       TEXT NOT NULL CHECK (method IN ('write', 'read', 'map', 'unmap', 'copy')),
  bytes        INTEGER NOT NULL CHECK (bytes > 0),
  sweep_id     INTEGER REFERENCES sweeps(id),
  status       TEXT NOT NULL CHECK (status IN ('ok', 'unsupported', 'failed', 'mistrusted')),
  reason       TEXT,
  median_us    REAL,
  p10_us       REAL,
  p90_us       REAL,
  mean_us      REAL,
  stddev_us    REAL,
  min_us       REAL,
  repetitions  INTEGER,
  rel_ci       REAL,
  measured_at  TEXT NOT NULL,
  UNIQUE (src_unit_id, dst_unit_id, method, bytes)
) STRICT;

-- Plans executed for real: predicted against measured.
CREATE TABLE validations (
  id              INTEGER PRIMARY KEY,
  target_id       INTEGER NOT NULL REFERENCES targets(id),
  model           TEXT NOT NULL,
  model_hash      TEXT NOT NULL,
  plan            TEXT NOT NULL,       -- plan JSON
  strategy        TEXT NOT NULL,       -- 'plan' or a baseline name
  predicted_us    REAL NOT NULL,
  measured_us     REAL,
  p10_us          REAL,
  p90_us          REAL,
  repetitions     INTEGER,
  status          TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  reason          TEXT,
  measured_at     TEXT NOT NULL
) STRICT;
