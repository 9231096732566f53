-- name: AnnouncePush :exec
-- Live pulls across instances (server/live): a push announces, in its own
-- transaction, the version it took and the tables it wrote. Postgres
-- delivers the notification at commit, and not at all on rollback (a 409, an
-- idempotent replay), to every instance LISTENing on a direct connection.
-- The payload is the contractor id, the version and the tables, space separated (tables comma separated): a few dozen
-- bytes, far under NOTIFY's 8,000.
SELECT pg_notify('syncproxy_live', concat_ws(' ', sqlc.arg(contractor_id)::uuid, sqlc.arg(version)::bigint, array_to_string(sqlc.arg(tables)::text[], ',')));

-- name: LiveClocks :many
-- tenant-exempt: live pulls behind a transaction pooler, where LISTEN cannot work: one statement per instance and poll interval reads the clocks of the contractors it holds pulls of (by primary key), and wakes those whose requested tables moved past their cursors
SELECT contractor_id, seq, table_seqs FROM sync_clock WHERE contractor_id = ANY(@contractor_ids::uuid[]);
