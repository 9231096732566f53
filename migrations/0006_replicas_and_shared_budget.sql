-- Issue 22: pulls and digests from streaming replicas, one rate limit budget
-- per tenant across instances.
--
-- A walk a replica serves cannot read its horizon's time from the clock of
-- the database it runs on: a replica's own clock_timestamp() is later than
-- pushes it has not replayed yet, and a device that keeps only serverTime
-- (contract: "serverTime is safe to use as since") would skip them. seq_at is
-- the time the push that took seq read once it held the clock row (the
-- updated_at of its rows); every later push of the contractor reads its own
-- after this one committed, so no change after seq carries an earlier time.
-- Existing clocks (and clocks of new contractors) start at the time they are
-- written: the ALTER locks sync_clock, so every later push reads a later time.
ALTER TABLE sync_clock ADD COLUMN seq_at timestamptz NOT NULL DEFAULT now();

-- Each instance keeps its rate limit buckets in memory and, once a sync
-- interval, adds one row here with what each contractor spent on it since
-- the last one (tokens[i] for contractors[i]), and debits what the other
-- instances' rows it has not seen yet say (server/ratebudget). writer is the
-- transaction that wrote the row: a reader takes the rows its previous
-- snapshot did not see, so a row that commits late is read late, never
-- skipped. Rows are few (one per instance per interval, kept a minute) and
-- hold no tenant data but spend; it is no synced table.
CREATE TABLE rate_spend (
    instance_id uuid NOT NULL,
    writer      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    written_at  timestamptz NOT NULL DEFAULT now(),
    contractors uuid[] NOT NULL,
    tokens      bigint[] NOT NULL CHECK (cardinality(tokens) = cardinality(contractors)),
    PRIMARY KEY (instance_id, writer)
);
