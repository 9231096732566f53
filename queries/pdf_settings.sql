-- pdf_settings is a singleton: one row per contractor, keyed by the contractor.

-- name: UpsertPdfSettings :execrows
INSERT INTO pdf_settings AS t (
    contractor_id, template, accent_color, show_logo, header_text, footer_text, terms,
    created_at, updated_at, sync_seq)
SELECT @contractor_id::uuid, r.template, r.accent_color, COALESCE(r.show_logo, true), r.header_text, r.footer_text, r.terms,
    @now::timestamptz, @now::timestamptz, @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
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
