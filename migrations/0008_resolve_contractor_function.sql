-- Issue 23: the tenant lookup, which every authenticated request runs first,
-- as a PL/pgSQL function. Behind a transaction pooler the server sends its
-- statements unprepared (SYNC_DB_EXEC_MODE=auto chooses exec there), so
-- Postgres parses and plans each one again; the statements inside a PL/pgSQL
-- function are planned once per server connection and kept, whichever client
-- the pooler hands that connection to. (A LANGUAGE sql function would be
-- inlined into the caller's statement and planned with it every time.)
--
-- The answer is the query's it replaces (queries/tenant.sql before 0008): a
-- team member's contractor (users), else a contractor whose own id is the
-- auth user (solo accounts), else NULL. STABLE: it reads, never writes, and
-- sees the snapshot of the statement that calls it.
CREATE FUNCTION resolve_contractor(auth_user_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN COALESCE(
        (SELECT u.contractor_id FROM users u WHERE u.auth_user_id = resolve_contractor.auth_user_id),
        (SELECT c.id FROM contractors c WHERE c.id = resolve_contractor.auth_user_id)
    );
END
$$;
