-- layoutdb schema, version 3: what `layoutdb validate` needs beside each strategy's figures.
-- Tables and columns of 001 and 002 are unchanged; this migration only adds.
--   validation: one key shared by the rows of one `validate` run (the plan, its baselines, its oracle)
--   inputs:     JSON, the model inputs used (name, shape, dtype, file or "random:SEED")
--   details:    JSON, per sub-graph figures of this strategy (unit, layout, measured and predicted us)
ALTER TABLE validations ADD COLUMN validation TEXT;
ALTER TABLE validations ADD COLUMN inputs TEXT;
ALTER TABLE validations ADD COLUMN details TEXT;
CREATE INDEX validations_run ON validations(validation);
