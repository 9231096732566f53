-- contractors holds one row per contractor whose id is the contractor id; sync
-- may only update the caller's own row (never create or delete one).

-- name: UpsertContractors :execrows
-- Only ever updates: the caller's row exists from provisioning, and a push
-- can neither create nor address another contractor's row. @rows holds at
-- most one row (the server checks its id is the caller's).
UPDATE contractors AS c SET
    name = r.name, company_name = r.company_name, email = r.email, phone = r.phone,
    address = r.address, currency = COALESCE(r.currency, 'USD'),
    updated_at = @now::timestamptz, sync_seq = @seq::bigint
FROM jsonb_to_recordset(@rows::jsonb) AS r(
    name text, company_name text, email text, phone text, address text, currency text)
WHERE c.id = @contractor_id::uuid;

-- name: PullContractors :many
SELECT * FROM contractors
WHERE id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND sync_seq > @after_seq::bigint
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz);
