-- name: OpsTenants :many
-- tenant-exempt: operations (the ops page, SYNC_OPS_ADDR, behind SYNC_OPS_TOKEN): every tenant's version and its devices' last activity, for the operator; never served over the API
-- Most recently active first; tenants without a device last.
SELECT t.id, t.name, c.seq AS version, c.seq_at AS version_at,
    count(d.device_id)::bigint AS devices,
    COALESCE(max(d.last_seen), 'epoch')::timestamptz AS last_seen, -- epoch: no device yet
    count(d.device_id) FILTER (WHERE c.seq > COALESCE(d.pulled_version, 0))::bigint AS behind
FROM contractors AS t
JOIN sync_clock AS c ON c.contractor_id = t.id
LEFT JOIN devices AS d ON d.contractor_id = t.id
GROUP BY t.id, t.name, c.seq, c.seq_at
ORDER BY max(d.last_seen) DESC NULLS LAST, t.name, t.id
LIMIT @max_rows;

-- name: OpsDevices :many
-- tenant-exempt: operations (the ops page, behind SYNC_OPS_TOKEN): the devices of every tenant, most recently seen first ("who is syncing now"; syncproxy devices -stale lists the quiet ones), for the operator; never served over the API
SELECT d.contractor_id, t.name AS contractor_name, d.device_id, d.auth_user_id, d.user_agent, d.first_seen, d.last_seen,
    d.last_push_at, d.last_pull_at, d.pulled_version, d.pulled_version_at, d.pushes, d.pulls, d.conflicts, d.rejected_pushes,
    c.seq AS contractor_version, c.seq_at AS contractor_version_at
FROM devices AS d
JOIN sync_clock AS c ON c.contractor_id = d.contractor_id
JOIN contractors AS t ON t.id = d.contractor_id
ORDER BY d.last_seen DESC, d.contractor_id, d.device_id
LIMIT @max_rows;
