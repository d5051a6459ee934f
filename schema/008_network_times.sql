-- layoutdb schema, version 8: the times of a model's own sub-graphs in its network. Tables and columns of
-- 001-007 are unchanged.
--
-- `sweep --model M --cache network` times every state of every sub-graph of the model inside its network
-- (runtime/network_sweep.cpp). A problem's row in `measurements` takes one figure for all the sub-graphs
-- that run its kernel, in every model; this table keeps each sub-graph's own, for that model: its context
-- (what wrote its input, whose weights left the cache) moves it, and a sub-graph of several kernels has
-- no problem row at all. The selector prices a state of a sub-graph from here when it plans the same model
-- file at the same input shapes with the same partition.
--   model       the model file's content hash (selector ModelHash) and its input shapes, e.g.
--               '16fde8363a846d7c input:1,3,224,224'
--   nodes       the sub-graph's node indices in the model, comma-separated ('3,4,5')
--   layout      the state's label, as in a plan ('nhwc', 'nchw>nChw16c', 'plain')
--   median_us   its kernels only (reorders and transfers into it timed apart): the quietest round's
--               median, as a sweep stores a point's quietest visit; 0 for a sub-graph of views
CREATE TABLE network_times (
  id           INTEGER PRIMARY KEY,
  sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),
  unit_id      INTEGER NOT NULL REFERENCES units(id),
  model        TEXT NOT NULL,
  nodes        TEXT NOT NULL,
  layout       TEXT NOT NULL,
  dtype        TEXT NOT NULL CHECK (dtype IN ('f32', 'bf16', 'f16', 'int8')),
  median_us    REAL NOT NULL CHECK (median_us >= 0),
  p10_us       REAL,
  p90_us       REAL,
  repetitions  INTEGER NOT NULL CHECK (repetitions > 0),
  rel_ci       REAL,
  measured_at  TEXT NOT NULL,
  UNIQUE (unit_id, model, nodes, layout, dtype)
) STRICT;
