-- name: AdvanceClock :one
-- Bumps the contractor's clock and holds its row lock until the push commits:
-- pushes of one contractor therefore commit in seq order. `now` is read after
-- the lock is granted, so updated_at also grows in commit order.
UPDATE sync_clock
SET seq = seq + 1
WHERE contractor_id = @contractor_id
RETURNING seq, clock_timestamp()::timestamptz AS now;

-- name: ReadClock :one
-- FOR SHARE waits for a push of this contractor that is still in flight, so
-- every change with seq <= the returned seq has committed, and every later push
-- gets an updated_at after the returned now.
WITH locked AS (
    SELECT seq FROM sync_clock WHERE contractor_id = @contractor_id FOR SHARE
)
SELECT locked.seq, clock_timestamp()::timestamptz AS now FROM locked;
