-- name: ExchangeRateSpend :one
-- The rate limit across instances (server/ratebudget): once an interval, one
-- statement per instance. rate_spend holds spend, no tenant data: its rows
-- are per instance, each a map of contractor ids to tokens.
-- Adds this instance's spend since its last exchange (when it spent
-- anything), expires its own rows older than @keep_seconds, and returns,
-- with the statement's snapshot, the spend rows of other instances that the
-- snapshot it returned last time (@seen; NULL the first time: nothing) did
-- not see. A row commits after its writer's snapshot is taken; comparing
-- snapshots rather than times reads it once, however late it commits.
WITH added AS (
    INSERT INTO rate_spend (instance_id, spent)
    SELECT @instance_id::uuid, @spent::jsonb
    WHERE @spent::jsonb <> '{}'::jsonb
    RETURNING 1
), expired AS (
    DELETE FROM rate_spend
    WHERE instance_id = @instance_id::uuid AND written_at < now() - make_interval(secs => @keep_seconds::float8)
    RETURNING 1
)
SELECT pg_current_snapshot()::text AS seen,
    COALESCE(jsonb_agg(r.spent), '[]'::jsonb)::jsonb AS others
FROM rate_spend AS r
WHERE r.instance_id <> @instance_id::uuid
  AND NOT pg_visible_in_snapshot(r.writer, sqlc.narg('seen')::text::pg_snapshot);
