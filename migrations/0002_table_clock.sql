-- A delta pull with nothing new must cost one statement, not one per table:
-- the clock row also remembers, per table, the seq of the last push that
-- wrote to it. A pull skips every table whose last change is not after its
-- cursor. The map lives in the clock row itself, so the FOR SHARE read that
-- fixes a pull's horizon returns both from the same row version.
--
-- A table missing from the map has not been written since this migration:
-- new tables start empty. Existing tables are recorded at the current seq
-- (a conservative bound: a pull older than it reads them once).
ALTER TABLE sync_clock ADD COLUMN table_seqs jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(table_seqs) = 'object');

UPDATE sync_clock SET table_seqs = jsonb_build_object(
    'contractors', seq, 'costbook_folders', seq, 'costbook_items', seq,
    'estimates', seq, 'estimate_events', seq, 'pdf_settings', seq,
    'pricing_rules', seq, 'step_a_configs', seq, 'step_a_rules', seq);
