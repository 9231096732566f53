-- contractors holds one row per contractor whose id is the contractor id; sync
-- may only update the caller's own row (never create or delete one).

-- name: UpsertContractors :execrows
-- Only ever updates: the caller's row exists from provisioning, and a push
-- can neither create nor address another contractor's row. @rows holds at
-- most one row (the server checks its id is the caller's). Partial, like
-- every upsert: the stored row with the pushed keys laid over it.
UPDATE contractors AS c SET
    name = r.name, company_name = r.company_name, email = r.email, phone = r.phone,
    address = r.address, currency = COALESCE(r.currency, 'USD'),
    updated_at = @now::timestamptz, sync_seq = @seq::bigint
FROM jsonb_to_recordset((
        SELECT jsonb_agg(to_jsonb(cur) || pushed.row)
        FROM contractors AS cur, jsonb_array_elements(@rows::jsonb) AS pushed(row)
        WHERE cur.id = @contractor_id::uuid)) AS r(
    name text, company_name text, email text, phone text, address text, currency text)
WHERE c.id = @contractor_id::uuid;

-- name: PullContractors :many
SELECT * FROM contractors
WHERE id = @contractor_id
  AND sync_seq <= @horizon::bigint
  AND sync_seq > @after_seq::bigint
  AND (sqlc.narg('since')::timestamptz IS NULL OR updated_at >= sqlc.narg('since')::timestamptz);

-- name: CurrentContractors :many
-- The caller's row, which a push checks against its base_version.
SELECT * FROM contractors
WHERE id = @contractor_id;

-- name: DigestContractors :one
-- count and digest (see costbook_items.sql) of the caller's row.
SELECT count(*)::bigint AS live_rows,
    ((COALESCE(sum(('x' || encode(substring(sha256(uuid_send(id) || int8send(sync_seq)) FROM 1 FOR 8), 'hex'))::bit(64)::bigint::numeric), 0)
        % 18446744073709551616 + 18446744073709551616) % 18446744073709551616)::text AS digest
FROM contractors
WHERE id = @contractor_id;
