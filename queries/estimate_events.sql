-- name: UpsertEstimateEvents :execrows
INSERT INTO estimate_events AS t (
    contractor_id, id, estimate_id, kind, payload, occurred_at,
    created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.estimate_id, r.kind, COALESCE(r.payload, '{}'::jsonb), r.occurred_at,
    @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    id uuid, estimate_id uuid, kind text, payload jsonb, occurred_at timestamptz)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    estimate_id = EXCLUDED.estimate_id, kind = EXCLUDED.kind, payload = EXCLUDED.payload, occurred_at = EXCLUDED.occurred_at,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeleteEstimateEvents :execrows
UPDATE estimate_events
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]) AND deleted_at IS NULL;

-- name: PullEstimateEvents :many
SELECT * FROM estimate_events
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND (sync_seq, id) > (@after_seq::bigint, @after_id::uuid)
  AND (@with_deleted::boolean OR deleted_at IS NULL)
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz)
ORDER BY sync_seq, id
LIMIT @max_rows;
