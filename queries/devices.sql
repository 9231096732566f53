-- name: RecordDevices :exec
-- One flush of the device ledger for one contractor (server/devices): the
-- i-th element of every array is one device's requests since the last
-- flush, already aggregated in memory, one entry per device (Postgres
-- refuses an ON CONFLICT that touches a row twice). Times are Unix
-- microseconds, 0 for "none in this flush"; a pulled version of -1 is none.
-- Counts add up; times and the pulled version only move forward, so two
-- instances flushing the same device in either order give one answer; the
-- user and user agent are those of the later request.
INSERT INTO devices AS d (contractor_id, device_id, auth_user_id, user_agent, first_seen, last_seen,
    last_push_at, last_pull_at, pulled_version, pulled_version_at, pushes, pulls, conflicts, rejected_pushes)
SELECT @contractor_id::uuid, u.device_id, u.auth_user_id, u.user_agent,
    'epoch'::timestamptz + u.first_seen * interval '1 microsecond',
    'epoch'::timestamptz + u.last_seen * interval '1 microsecond',
    CASE WHEN u.last_push_at > 0 THEN 'epoch'::timestamptz + u.last_push_at * interval '1 microsecond' END,
    CASE WHEN u.last_pull_at > 0 THEN 'epoch'::timestamptz + u.last_pull_at * interval '1 microsecond' END,
    CASE WHEN u.pulled_version >= 0 THEN u.pulled_version END,
    CASE WHEN u.pulled_version >= 0 THEN 'epoch'::timestamptz + u.pulled_version_at * interval '1 microsecond' END,
    u.pushes, u.pulls, u.conflicts, u.rejected_pushes
FROM (
    -- One unnest per column, not unnest(a, b, ...), which sqlc cannot type
    -- (PITFALLS.md); equal lengths zip them.
    SELECT unnest(@device_ids::uuid[]) AS device_id,
        unnest(@auth_user_ids::uuid[]) AS auth_user_id,
        unnest(@user_agents::text[]) AS user_agent,
        unnest(@first_seen::bigint[]) AS first_seen,
        unnest(@last_seen::bigint[]) AS last_seen,
        unnest(@last_push_at::bigint[]) AS last_push_at,
        unnest(@last_pull_at::bigint[]) AS last_pull_at,
        unnest(@pulled_versions::bigint[]) AS pulled_version,
        unnest(@pulled_version_at::bigint[]) AS pulled_version_at,
        unnest(@pushes::bigint[]) AS pushes,
        unnest(@pulls::bigint[]) AS pulls,
        unnest(@conflicts::bigint[]) AS conflicts,
        unnest(@rejected_pushes::bigint[]) AS rejected_pushes
) AS u
ON CONFLICT (contractor_id, device_id) DO UPDATE SET
    auth_user_id = CASE WHEN EXCLUDED.last_seen >= d.last_seen THEN EXCLUDED.auth_user_id ELSE d.auth_user_id END,
    user_agent = CASE WHEN EXCLUDED.last_seen >= d.last_seen THEN EXCLUDED.user_agent ELSE d.user_agent END,
    first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen),
    last_push_at = GREATEST(d.last_push_at, EXCLUDED.last_push_at),
    last_pull_at = GREATEST(d.last_pull_at, EXCLUDED.last_pull_at),
    pulled_version = GREATEST(d.pulled_version, EXCLUDED.pulled_version),
    pulled_version_at = GREATEST(d.pulled_version_at, EXCLUDED.pulled_version_at),
    pushes = d.pushes + EXCLUDED.pushes,
    pulls = d.pulls + EXCLUDED.pulls,
    conflicts = d.conflicts + EXCLUDED.conflicts,
    rejected_pushes = d.rejected_pushes + EXCLUDED.rejected_pushes;

-- name: ListDevices :many
-- GET /api/sync/devices: the caller's contractor's devices, with the
-- contractor's version (and its time) to compute each one's lag against.
SELECT d.device_id, d.auth_user_id, d.user_agent, d.first_seen, d.last_seen, d.last_push_at, d.last_pull_at,
    d.pulled_version, d.pulled_version_at, d.pushes, d.pulls, d.conflicts, d.rejected_pushes,
    c.seq AS contractor_version, c.seq_at AS contractor_version_at
FROM devices AS d
JOIN sync_clock AS c ON c.contractor_id = d.contractor_id
WHERE d.contractor_id = @contractor_id AND c.contractor_id = @contractor_id
ORDER BY d.last_seen DESC, d.device_id;

-- name: ListDevicesAcrossTenants :many
-- tenant-exempt: operations (syncproxy devices -stale/-lag): the devices of every tenant that have not been seen since @seen_before or are at least @min_lag versions behind, for the operator; never served over the API
-- Both filters hold when both are given; NULL leaves one out. Stalest first.
SELECT d.contractor_id, t.name AS contractor_name, d.device_id, d.auth_user_id, d.user_agent, d.first_seen, d.last_seen,
    d.last_push_at, d.last_pull_at, d.pulled_version, d.pulled_version_at, d.pushes, d.pulls, d.conflicts, d.rejected_pushes,
    c.seq AS contractor_version, c.seq_at AS contractor_version_at
FROM devices AS d
JOIN sync_clock AS c ON c.contractor_id = d.contractor_id
JOIN contractors AS t ON t.id = d.contractor_id
WHERE (sqlc.narg('seen_before')::timestamptz IS NULL OR d.last_seen < sqlc.narg('seen_before')::timestamptz)
  AND (sqlc.narg('min_lag')::bigint IS NULL OR c.seq - COALESCE(d.pulled_version, 0) >= sqlc.narg('min_lag')::bigint)
ORDER BY d.last_seen, d.contractor_id, d.device_id
LIMIT @max_rows;
