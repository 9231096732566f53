-- name: UpsertCostbookFolders :execrows
INSERT INTO costbook_folders AS t (
    contractor_id, id, name, parent_id, sort_order,
    created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.name, r.parent_id, COALESCE(r.sort_order, 0),
    @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    id uuid, name text, parent_id uuid, sort_order integer)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, sort_order = EXCLUDED.sort_order,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeleteCostbookFolders :execrows
UPDATE costbook_folders
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]) AND deleted_at IS NULL;

-- name: PullCostbookFolders :many
SELECT * FROM costbook_folders
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND (sync_seq, id) > (@after_seq::bigint, @after_id::uuid)
  AND (@with_deleted::boolean OR deleted_at IS NULL)
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz)
ORDER BY sync_seq, id
LIMIT @max_rows;
