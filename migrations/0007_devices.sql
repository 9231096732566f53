-- Issue 21: who is syncing. One row per contractor and device: the device is
-- the X-Device-Id a request carries (a uuid the app makes once per install);
-- requests without one (or with one that is no uuid) are counted under the
-- nil uuid, "no device", so a 1.0 client is still seen. The server buffers
-- what requests say in memory and writes it here in batches (server/devices):
-- no request waits on this table.
--
-- pulled_version is the version of the last complete pull walk (hasMore
-- false) and pulled_version_at its serverTime; the lag is the contractor's
-- version (sync_clock.seq) minus pulled_version, computed when read.
CREATE TABLE devices (
    contractor_id      uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    device_id          uuid NOT NULL,
    auth_user_id       uuid NOT NULL,
    user_agent         text NOT NULL DEFAULT '',
    first_seen         timestamptz NOT NULL,
    last_seen          timestamptz NOT NULL,
    last_push_at       timestamptz,
    last_pull_at       timestamptz,
    pulled_version     bigint,
    pulled_version_at  timestamptz,
    pushes             bigint NOT NULL DEFAULT 0,
    pulls              bigint NOT NULL DEFAULT 0,
    conflicts          bigint NOT NULL DEFAULT 0,
    rejected_pushes    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (contractor_id, device_id)
);

-- syncproxy devices -stale: the devices of all tenants not seen for a while.
CREATE INDEX devices_last_seen ON devices (last_seen);
