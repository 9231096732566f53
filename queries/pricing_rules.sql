-- name: UpsertPricingRules :execrows
INSERT INTO pricing_rules AS t (
    contractor_id, id, name, kind, value, applies_to, priority, enabled,
    created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.name, r.kind, r.value, r.applies_to, COALESCE(r.priority, 0), COALESCE(r.enabled, true),
    @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    id uuid, name text, kind text, value numeric, applies_to jsonb, priority integer, enabled boolean)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, value = EXCLUDED.value, applies_to = EXCLUDED.applies_to, priority = EXCLUDED.priority, enabled = EXCLUDED.enabled,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeletePricingRules :execrows
UPDATE pricing_rules
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]) AND deleted_at IS NULL;

-- name: PullPricingRules :many
SELECT * FROM pricing_rules
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND (sync_seq, id) > (@after_seq::bigint, @after_id::uuid)
  AND (@with_deleted::boolean OR deleted_at IS NULL)
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz)
ORDER BY sync_seq, id
LIMIT @max_rows;
