-- name: UpsertEstimates :execrows
INSERT INTO estimates AS t (
    contractor_id, id, number, title, client_name, client_email, status, line_items, notes, subtotal, tax, total, valid_until,
    created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.number, r.title, r.client_name, r.client_email, COALESCE(r.status, 'draft'), COALESCE(r.line_items, '[]'::jsonb), r.notes, r.subtotal, r.tax, r.total, r.valid_until,
    @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    id uuid, number text, title text, client_name text, client_email text, status text, line_items jsonb, notes text, subtotal numeric, tax numeric, total numeric, valid_until date)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    number = EXCLUDED.number, title = EXCLUDED.title, client_name = EXCLUDED.client_name, client_email = EXCLUDED.client_email, status = EXCLUDED.status, line_items = EXCLUDED.line_items, notes = EXCLUDED.notes, subtotal = EXCLUDED.subtotal, tax = EXCLUDED.tax, total = EXCLUDED.total, valid_until = EXCLUDED.valid_until,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeleteEstimates :execrows
UPDATE estimates
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint
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
