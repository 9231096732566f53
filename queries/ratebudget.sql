-- name: ExchangeRateSpend :one
-- The rate limit across instances (server/ratebudget): once an interval, one
-- statement per instance. rate_spend holds spend, no tenant data: its rows
-- are per instance, each the tokens a list of contractors spent.
-- Adds this instance's spend since its last exchange (when it spent
-- anything), expires its own rows older than @keep_seconds, and returns,
-- with the statement's snapshot, the spend per contractor of the other
-- instances' rows that the snapshot it returned last time (@seen; NULL the
-- first time: nothing) did not see. A row commits after its writer's
-- snapshot is taken; comparing snapshots rather than times reads it once,
-- however late it commits.
WITH added AS (
    INSERT INTO rate_spend (instance_id, contractors, tokens)
    SELECT @instance_id::uuid, @contractors::uuid[], @tokens::bigint[]
    WHERE cardinality(@contractors::uuid[]) > 0
    RETURNING 1
), expired AS (
    DELETE FROM rate_spend
    WHERE instance_id = @instance_id::uuid AND written_at < now() - make_interval(secs => @keep_seconds::float8)
    RETURNING 1
), others AS (
    -- Two unnests joined by position, not unnest(a, b), which sqlc cannot
    -- type (PITFALLS.md), nor a[i], which detoasts the array per element.
    SELECT c.contractor_id, sum(t.tokens)::bigint AS tokens
    FROM rate_spend AS r
    CROSS JOIN LATERAL unnest(r.contractors) WITH ORDINALITY AS c(contractor_id, i)
    JOIN LATERAL unnest(r.tokens) WITH ORDINALITY AS t(tokens, i) ON t.i = c.i
    WHERE r.instance_id <> @instance_id::uuid
      AND NOT pg_visible_in_snapshot(r.writer, sqlc.narg('seen')::text::pg_snapshot)
    GROUP BY c.contractor_id
)
SELECT pg_current_snapshot()::text AS seen,
    COALESCE((SELECT array_agg(o.contractor_id ORDER BY o.contractor_id) FROM others AS o), '{}')::uuid[] AS contractors,
    COALESCE((SELECT array_agg(o.tokens ORDER BY o.contractor_id) FROM others AS o), '{}')::bigint[] AS tokens;
