-- name: UpsertEstimates :execrows
-- A row updates only the columns it carries (contract 1.1): the stored row as
-- jsonb with the pushed keys laid over it is what is written, so an absent key
-- keeps its value and an explicit null clears it; a new (or deleted) row
-- starts from nothing, so the COALESCEs give it the column defaults. The
-- stored row is looked up per pushed row by its key (a subquery, not a join,
-- so the plan cannot turn into a scan of all the contractor's rows). One
-- statement for the whole table, under the contractor's clock lock (no
-- concurrent writer of these rows).
INSERT INTO estimates AS t (
    contractor_id, id, number, title, client_name, client_email, status, line_items, notes, subtotal, tax, total, valid_until,
    created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.number, r.title, r.client_name, r.client_email, COALESCE(r.status, 'draft'), COALESCE(r.line_items, '[]'::jsonb), r.notes, r.subtotal, r.tax, r.total, r.valid_until,
    @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_array_elements(@rows::jsonb) AS pushed(row)
CROSS JOIN LATERAL jsonb_to_record(COALESCE((
    SELECT to_jsonb(cur) FROM estimates AS cur
    WHERE cur.contractor_id = @contractor_id::uuid AND cur.id = (pushed.row->>'id')::uuid AND cur.deleted_at IS NULL
), '{}'::jsonb) || pushed.row) AS r(
    id uuid, number text, title text, client_name text, client_email text, status text, line_items jsonb, notes text, subtotal numeric, tax numeric, total numeric, valid_until date)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    number = EXCLUDED.number, title = EXCLUDED.title, client_name = EXCLUDED.client_name, client_email = EXCLUDED.client_email, status = EXCLUDED.status, line_items = EXCLUDED.line_items, notes = EXCLUDED.notes, subtotal = EXCLUDED.subtotal, tax = EXCLUDED.tax, total = EXCLUDED.total, valid_until = EXCLUDED.valid_until,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeleteEstimates :execrows
-- A tombstone keeps its key and bookkeeping only (contract 1.2): every payload
-- column is blanked, so nothing a deleted row
-- held costs a read during the retention period or stays on the server.
-- JSON columns and columns with a default get the default, nullable ones
-- NULL, required text ''. A row pushed again later starts from nothing anyway.
UPDATE estimates
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint,
    number = '', title = NULL, client_name = NULL, client_email = NULL, status = DEFAULT, line_items = DEFAULT, notes = NULL, subtotal = NULL, tax = NULL, total = NULL, valid_until = NULL
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]) AND deleted_at IS NULL;

-- name: PullEstimates :many
SELECT * FROM estimates
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND (sync_seq, id) > (@after_seq::bigint, @after_id::uuid)
  AND (@with_deleted::boolean OR deleted_at IS NULL)
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz)
ORDER BY sync_seq, id
LIMIT @max_rows;

-- name: VersionsEstimates :many
-- The versions of the keys a push checks against their base_version, and
-- whether each is a tombstone: the check needs no more, and a 409 reads the
-- rows themselves (CurrentEstimates) only for the conflicts it has room for.
SELECT id, sync_seq, (deleted_at IS NOT NULL)::boolean AS deleted FROM estimates
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]);

-- name: CurrentEstimates :many
-- The stored rows of conflicting keys, as a 409 carries them: read through
-- the 409's byte budget, which stops reading once it is full.
SELECT * FROM estimates
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]);

-- name: DigestEstimates :one
-- count and digest of the live rows: the sum, mod 2^64, of the first 8 bytes
-- (big-endian) of SHA-256(id || sync_seq as 8 bytes big-endian).
SELECT count(*)::bigint AS live_rows,
    ((COALESCE(sum(('x' || encode(substring(sha256(uuid_send(id) || int8send(sync_seq)) FROM 1 FOR 8), 'hex'))::bit(64)::bigint::numeric), 0)
        % 18446744073709551616 + 18446744073709551616) % 18446744073709551616)::text AS digest
FROM estimates
WHERE contractor_id = @contractor_id AND deleted_at IS NULL;

-- name: MarkTombstonesEstimates :execrows
-- tenant-exempt: housekeeping: raises, per contractor, the low-water mark below which cursors get 410, before the tombstones older than @cutoff are purged
UPDATE sync_clock AS c
SET purged_seq = GREATEST(c.purged_seq, m.seq), purged_at = GREATEST(c.purged_at, m.at)
FROM (SELECT contractor_id, max(sync_seq) AS seq, max(updated_at) AS at
      FROM estimates WHERE deleted_at < @cutoff::timestamptz GROUP BY contractor_id) AS m
WHERE c.contractor_id = m.contractor_id;

-- name: PurgeTombstonesEstimates :execrows
-- tenant-exempt: housekeeping: deletes the tombstones of every contractor older than @cutoff, after their marks
DELETE FROM estimates WHERE deleted_at < @cutoff::timestamptz;
