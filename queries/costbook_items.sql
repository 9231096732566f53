-- name: UpsertCostbookItems :execrows
INSERT INTO costbook_items AS t (
    contractor_id, id, name, folder_id, description, unit, unit_cost,
    markup_percent, sku, taxable, created_at, updated_at, deleted_at, sync_seq)
SELECT @contractor_id::uuid, r.id, r.name, r.folder_id, r.description, r.unit, r.unit_cost,
    r.markup_percent, r.sku, COALESCE(r.taxable, false), @now::timestamptz, @now::timestamptz, NULL, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    id uuid, name text, folder_id uuid, description text, unit text, unit_cost numeric,
    markup_percent numeric, sku text, taxable boolean)
ON CONFLICT (contractor_id, id) DO UPDATE SET
    name = EXCLUDED.name, folder_id = EXCLUDED.folder_id, description = EXCLUDED.description,
    unit = EXCLUDED.unit, unit_cost = EXCLUDED.unit_cost, markup_percent = EXCLUDED.markup_percent,
    sku = EXCLUDED.sku, taxable = EXCLUDED.taxable,
    updated_at = EXCLUDED.updated_at, deleted_at = NULL, sync_seq = EXCLUDED.sync_seq;

-- name: DeleteCostbookItems :execrows
UPDATE costbook_items
SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz, sync_seq = @seq::bigint
WHERE contractor_id = @contractor_id AND id = ANY(@ids::uuid[]) AND deleted_at IS NULL;

-- name: PullCostbookItems :many
SELECT * FROM costbook_items
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND (sync_seq, id) > (@after_seq::bigint, @after_id::uuid)
  AND (@with_deleted::boolean OR deleted_at IS NULL)
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz)
ORDER BY sync_seq, id
LIMIT @max_rows;
