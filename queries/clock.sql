-- name: AdvanceClock :one
-- Bumps the contractor's clock and holds its row lock until the push commits:
-- pushes of one contractor therefore commit in seq order. `now` is read after
-- the lock is granted, so updated_at also grows in commit order. The tables
-- the push writes are stamped with the new seq, so pulls know where to look.
-- `now` must come from RETURNING, which runs once the lock is held: the SET
-- list is evaluated before a concurrent FOR SHARE reader lets go, so a time
-- taken there can be earlier than the serverTime that reader hands out while
-- this push is still uncommitted, and a device following serverTime as since
-- would miss the push for good (the since-reader of server/proof caught it).
-- seq_at is that earlier SET-list time, so seq_at <= now <= every later
-- push's now: a walk a replica serves may answer seq_at as serverTime (at
-- worst a row comes twice, never not at all).
UPDATE sync_clock
SET seq = seq + 1,
    seq_at = clock_timestamp(),
    table_seqs = table_seqs || COALESCE(
        (SELECT jsonb_object_agg(t, seq + 1) FROM unnest(@tables::text[]) AS t), '{}'::jsonb)
WHERE contractor_id = @contractor_id
RETURNING seq, clock_timestamp()::timestamptz AS now;

-- name: ReadClock :one
-- FOR SHARE waits for a push of this contractor that is still in flight, so
-- every change with seq <= the returned seq has committed, and every later push
-- gets an updated_at after the returned now. table_seqs and the purge marks
-- come from the same (re-read) row version as seq.
WITH locked AS (
    SELECT seq, table_seqs, purged_seq, purged_at FROM sync_clock WHERE contractor_id = @contractor_id FOR SHARE
)
SELECT locked.seq, locked.table_seqs, locked.purged_seq, locked.purged_at, clock_timestamp()::timestamptz AS now FROM locked;

-- name: PeekClock :one
-- The purge marks without waiting for pushes in flight: the later pages of a
-- walk, whose horizon is already fixed, check them too (a purge may have
-- removed tombstones of the walk since its first page), and the seq, which
-- the horizon of a cursor the server issued never passes.
SELECT seq, purged_seq, purged_at FROM sync_clock WHERE contractor_id = @contractor_id;

-- name: DigestClock :one
-- The horizon of a digest, read in the digest's own snapshot.
SELECT seq, clock_timestamp()::timestamptz AS now FROM sync_clock WHERE contractor_id = @contractor_id;

-- name: ReplicaClock :one
-- The clock as a streaming replica has replayed it, read in the same
-- snapshot as the rows of the page or digest it serves (a hot standby
-- refuses FOR SHARE, and needs none: server/syncstore/replica.go says why).
-- seq_at, the time of the push that took seq, is the walk's time.
SELECT seq, seq_at, table_seqs, purged_seq, purged_at FROM sync_clock WHERE contractor_id = @contractor_id;
