-- step_a_configs is a singleton: one row per contractor, keyed by the contractor.

-- name: UpsertStepAConfigs :execrows
INSERT INTO step_a_configs AS t (
    contractor_id, settings, enabled,
    created_at, updated_at, sync_seq)
SELECT @contractor_id::uuid, COALESCE(r.settings, '{}'::jsonb), COALESCE(r.enabled, true),
    @now::timestamptz, @now::timestamptz, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    settings jsonb, enabled boolean)
ON CONFLICT (contractor_id) DO UPDATE SET
    settings = EXCLUDED.settings, enabled = EXCLUDED.enabled,
    updated_at = EXCLUDED.updated_at, sync_seq = EXCLUDED.sync_seq;

-- name: PullStepAConfigs :many
SELECT * FROM step_a_configs
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND sync_seq > @after_seq::bigint
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz);
