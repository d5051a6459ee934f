-- layoutdb schema, version 7: a fourth cache mode, 'network'. Tables and columns of 001-006 are unchanged.
--
--   cache_mode  'network' (measurements, sweeps): the point was timed inside a model's network, as
--               `layoutdb sweep --model M --cache network` runs it: the sub-graph whose fused kernel the
--               problem is, executed in the network with every sub-graph that can take the same state
--               taking it (as `validate` times its candidates), its kernels only, reorders and
--               transfers apart; the quietest round's median, as a sweep stores a point's quietest
--               visit. The point's own visits (timed alone, warm) stay in `visits`, so nothing measured
--               alone is lost when its row takes the network's figure.
--
-- Widened in place as 006 did (SQLite "ALTER TABLE", section 7, the simpler procedure); older layoutdb
-- versions refuse the file (version 7).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'cache_mode IN (''hot'', ''warm'', ''cold'')',
                     'cache_mode IN (''hot'', ''warm'', ''cold'', ''network'')')
 WHERE type = 'table' AND name IN ('measurements', 'transitions', 'transfers', 'sweeps', 'visits');
PRAGMA writable_schema = RESET;
PRAGMA writable_schema = OFF;
CREATE TABLE schema_007_cookie (x);
DROP TABLE schema_007_cookie;
