-- name: GetIdempotentResponse :one
-- Keys older than the TTL are treated as unused.
SELECT request_hash, response FROM idempotency_keys
WHERE contractor_id = @contractor_id AND key = @key
  AND created_at > clock_timestamp() - make_interval(secs => @ttl_seconds::float8);

-- name: SaveIdempotentResponse :exec
INSERT INTO idempotency_keys (contractor_id, key, request_hash, response, created_at)
VALUES (@contractor_id, @key, @request_hash, @response, clock_timestamp())
ON CONFLICT (contractor_id, key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, response = EXCLUDED.response, created_at = EXCLUDED.created_at;

-- name: PurgeIdempotencyKeys :execrows
-- tenant-exempt: housekeeping: expires idempotency keys of all tenants by age; returns nothing
DELETE FROM idempotency_keys
WHERE created_at < clock_timestamp() - make_interval(secs => @ttl_seconds::float8);
