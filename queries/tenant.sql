-- name: ResolveContractor :one
-- Tenant resolution: finds the caller's contractor from the token's auth_user_id (users) or solo id (contractors), before any contractor_id is known.
-- docs/contract.md, "Tenant derivation": a team member's contractor, else a
-- contractor whose own id is the auth user (solo accounts).
-- The lookup is the function resolve_contractor (migrations/0008), whose
-- plans Postgres keeps per server connection, also behind a pooler. It reads
-- users and contractors before any tenant is known; check-tenant reads
-- statements, not function bodies, so this one names no tenant table.
SELECT resolve_contractor(@auth_user_id::uuid)::uuid AS contractor_id;

-- name: CreateContractor :one
-- tenant-exempt: provisioning (syncproxy tenant/dev): creates the tenant itself; its @id becomes the contractor id
INSERT INTO contractors (id, name, company_name, email, currency, sync_seq)
VALUES (@id, @name, sqlc.narg('company_name'), sqlc.narg('email'), @currency, 0)
RETURNING *;

-- name: CreateUser :one
INSERT INTO users (auth_user_id, contractor_id, role)
VALUES (@auth_user_id, @contractor_id, @role)
RETURNING *;

-- name: GetContractor :one
SELECT * FROM contractors WHERE id = @contractor_id;

-- name: ListUsers :many
SELECT * FROM users WHERE contractor_id = @contractor_id ORDER BY created_at, id;
