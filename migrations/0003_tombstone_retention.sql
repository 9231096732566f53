-- Tombstones are kept for SYNC_TOMBSTONE_RETENTION, then purged (contract
-- 1.1). Before a purge removes tombstones it raises, per contractor, the
-- low-water mark below which the server no longer knows every deletion: a
-- cursor whose base is under purged_seq, or a since at or before purged_at,
-- then gets 410 RESYNC_REQUIRED instead of a delta that silently lacks them.
ALTER TABLE sync_clock
    ADD COLUMN purged_seq bigint NOT NULL DEFAULT -1,
    ADD COLUMN purged_at timestamptz;

-- The purge finds expired tombstones without reading the live rows.
CREATE INDEX costbook_folders_tombstones ON costbook_folders (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX costbook_items_tombstones ON costbook_items (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX estimates_tombstones ON estimates (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX estimate_events_tombstones ON estimate_events (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX pricing_rules_tombstones ON pricing_rules (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX step_a_rules_tombstones ON step_a_rules (deleted_at) WHERE deleted_at IS NOT NULL;
