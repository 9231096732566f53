-- pdf_settings is a singleton: one row per contractor, keyed by the contractor.

-- name: UpsertPdfSettings :execrows
-- A row updates only the columns it carries (contract 1.1): the stored row as
-- jsonb with the pushed keys laid over it is what is written, so an absent key
-- keeps its value and an explicit null clears it; a new (or deleted) row
-- starts from nothing, so the COALESCEs give it the column defaults. One
-- statement for the whole table, under the contractor's clock lock (no
-- concurrent writer of these rows).
INSERT INTO pdf_settings AS t (
    contractor_id, template, accent_color, show_logo, header_text, footer_text, terms,
    created_at, updated_at, sync_seq)
SELECT @contractor_id::uuid, r.template, r.accent_color, COALESCE(r.show_logo, true), r.header_text, r.footer_text, r.terms,
    @now::timestamptz, @now::timestamptz, @seq::bigint
FROM jsonb_array_elements(@rows::jsonb) AS pushed(row)
LEFT JOIN pdf_settings AS cur ON cur.contractor_id = @contractor_id::uuid
CROSS JOIN LATERAL jsonb_to_record(COALESCE(to_jsonb(cur), '{}'::jsonb) || pushed.row) AS r(
    template text, accent_color text, show_logo boolean, header_text text, footer_text text, terms text)
ON CONFLICT (contractor_id) DO UPDATE SET
    template = EXCLUDED.template, accent_color = EXCLUDED.accent_color, show_logo = EXCLUDED.show_logo, header_text = EXCLUDED.header_text, footer_text = EXCLUDED.footer_text, terms = EXCLUDED.terms,
    updated_at = EXCLUDED.updated_at, sync_seq = EXCLUDED.sync_seq;

-- name: PullPdfSettings :many
SELECT * FROM pdf_settings
WHERE contractor_id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND sync_seq > @after_seq::bigint
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz);

-- name: CurrentPdfSettings :many
-- The stored row a push checks against its base_version.
SELECT * FROM pdf_settings
WHERE contractor_id = @contractor_id;

-- name: DigestPdfSettings :one
-- count and digest (see costbook_items.sql); a singleton's id is its contractor.
SELECT count(*)::bigint AS live_rows,
    ((COALESCE(sum(('x' || encode(substring(sha256(uuid_send(contractor_id) || int8send(sync_seq)) FROM 1 FOR 8), 'hex'))::bit(64)::bigint::numeric), 0)
        % 18446744073709551616 + 18446744073709551616) % 18446744073709551616)::text AS digest
FROM pdf_settings
WHERE contractor_id = @contractor_id;
