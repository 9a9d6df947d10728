CREATE OR REPLACE FUNCTION genome._caller_is_owner()
RETURNS boolean
LANGUAGE plpgsql
STABLE
-- Safe in a parallel worker (it reads the catalog and settings the worker shares): the
-- tenant policies call it through owner_session (docs/security.md#row-level-security).
PARALLEL SAFE
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- Inside a SECURITY DEFINER function current_user is the owner; the caller is the role
    -- the session set (SET ROLE) or, without one, the login role. PL/pgSQL, not SQL: every
    -- tenant policy reaches this through owner_session, and a SQL function with a SET
    -- clause is planned again on every call; PL/pgSQL keeps its plan for the session.
    RETURN coalesce((
        SELECT r.rolsuper OR pg_has_role(r.oid, 'genome_owner', 'MEMBER')
        FROM pg_catalog.pg_roles AS r
        WHERE r.rolname = coalesce(nullif(current_setting('role'), 'none'), session_user)
    ), false);
END
$$;
COMMENT ON FUNCTION genome._caller_is_owner() IS
'Internal: true when the session''s role (SET ROLE, else the login role) is a superuser or a member of genome_owner, also inside a SECURITY DEFINER function. Virtual time (p_now) and storage paths outside the storage key layout are the owner''s (the simulator and tests); genome_app and genome_agent never pass. See docs/attacks.md#agents-and-the-queue.';
