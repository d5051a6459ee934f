-- layoutdb schema, version 6: a third cache mode, 'warm'. Tables and columns of 001-005 are unchanged.
--
--   cache_mode  'warm': before every repetition each of the kernel's threads flushes its own core's
--               private caches (a buffer twice its L2), so that the kernel's data is found in the shared
--               last-level cache, where a network whose working set fits there keeps a kernel's weights
--               and inputs between two of its runs (microbench/execution.h, PrivateCacheFlusher).
--
-- The CHECK constraints of measurements, transitions, transfers, sweeps and visits admit it. Widening a
-- CHECK changes nothing stored (every row still satisfies it), so it is done as SQLite's documentation
-- allows for such changes ("ALTER TABLE", section 7, the simpler procedure): the tables' text in
-- sqlite_schema is edited in place, the schema reloaded, and the schema cookie moved on (a CREATE and
-- DROP) so that other connections reload it too. Older layoutdb versions refuse the file (version 6).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'cache_mode IN (''hot'', ''cold'')', 'cache_mode IN (''hot'', ''warm'', ''cold'')')
 WHERE type = 'table' AND name IN ('measurements', 'transitions', 'transfers', 'sweeps', 'visits');
PRAGMA writable_schema = RESET;
PRAGMA writable_schema = OFF;
CREATE TABLE schema_006_cookie (x);
DROP TABLE schema_006_cookie;
