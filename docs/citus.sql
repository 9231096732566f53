-- syncproxy on Citus: every tenant's rows on one node. Run once on the
-- coordinator, after `syncproxy migrate` and before traffic; docs/scaling.md
-- says when and what else changes. `make check-distributable` runs this file
-- against the migrated schema (Citus's functions stood in for) and checks
-- that it distributes every synced table by its tenant, colocated, and that
-- the schema and the queries stay distributable.
CREATE EXTENSION IF NOT EXISTS citus;

-- users maps a token's auth user to its contractor on every request, by
-- auth_user_id, which is not the tenant: a reference table (a copy on every
-- node, written rarely). Citus refuses a foreign key from a reference table
-- to a distributed one: provisioning (syncproxy tenant create, plain SQL)
-- keeps users.contractor_id naming a contractor.
ALTER TABLE users DROP CONSTRAINT users_contractor_id_fkey;
SELECT create_reference_table('users');

-- The tenants, by their id (a contractor's id is its rows' contractor_id),
-- and every table of a tenant colocated with them: a contractor's clock,
-- rows and Idempotency-Keys sit on one node, so a push is a transaction on
-- one node and a pull page reads one node.
SELECT create_distributed_table('contractors', 'id');
SELECT create_distributed_table('sync_clock', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('idempotency_keys', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('costbook_folders', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('costbook_items', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('estimates', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('estimate_events', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('pdf_settings', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('pricing_rules', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('step_a_configs', 'contractor_id', colocate_with => 'contractors');
SELECT create_distributed_table('step_a_rules', 'contractor_id', colocate_with => 'contractors');

-- Issue 21: the device ledger, per contractor like its rows (a flush writes
-- one contractor's devices per statement).
SELECT create_distributed_table('devices', 'contractor_id', colocate_with => 'contractors');

-- The instances' rate limit spend (one row per instance per second) stays
-- on the coordinator: its readers compare the snapshots of the
-- coordinator's transactions.
SELECT citus_add_local_table_to_metadata('rate_spend');
