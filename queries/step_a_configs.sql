-- step_a_configs is a singleton: one row per contractor, keyed by the contractor.

-- name: UpsertStepAConfigs :execrows
-- A row updates only the columns it carries (contract 1.1): the stored row as
-- jsonb with the pushed keys laid over it is what is written, so an absent key
-- keeps its value and an explicit null clears it; a new (or deleted) row
-- starts from nothing, so the COALESCEs give it the column defaults. One
-- statement for the whole table, under the contractor's clock lock (no
-- concurrent writer of these rows).
INSERT INTO step_a_configs AS t (
    contractor_id, settings, enabled,
    created_at, updated_at, sync_seq)
SELECT @contractor_id::uuid, COALESCE(r.settings, '{}'::jsonb), COALESCE(r.enabled, true),
    @now::timestamptz, @now::timestamptz, @seq::bigint
FROM jsonb_array_elements(@rows::jsonb) AS pushed(row)
LEFT JOIN step_a_configs AS cur ON cur.contractor_id = @contractor_id::uuid
CROSS JOIN LATERAL jsonb_to_record(COALESCE(to_jsonb(cur), '{}'::jsonb) || pushed.row) AS r(
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

-- name: CurrentStepAConfigs :many
-- The stored row a push checks against its base_version.
SELECT * FROM step_a_configs
WHERE contractor_id = @contractor_id;

-- name: DigestStepAConfigs :one
-- count and digest (see costbook_items.sql); a singleton's id is its contractor.
SELECT count(*)::bigint AS live_rows,
    ((COALESCE(sum(('x' || encode(substring(sha256(uuid_send(contractor_id) || int8send(sync_seq)) FROM 1 FOR 8), 'hex'))::bit(64)::bigint::numeric), 0)
        % 18446744073709551616 + 18446744073709551616) % 18446744073709551616)::text AS digest
FROM step_a_configs
WHERE contractor_id = @contractor_id;
