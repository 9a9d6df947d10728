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
    -- One expression over the role cache, no query: membership in genome_owner is true for
    -- a superuser too (PostgreSQL's membership test), and pg_roles, a view with a join, cost
    -- about 40 us a call, paid once per policy and statement of every API function a job
    -- calls (now about 8 us). A role dropped since it was set is nobody's (NULL -> false).
    RETURN coalesce(pg_catalog.pg_has_role(
        to_regrole(quote_ident(coalesce(nullif(current_setting('role'), 'none'), session_user))),
        'genome_owner', 'MEMBER'
    ), false);
END
$$;
COMMENT ON FUNCTION genome._caller_is_owner() IS
'Internal: true when the session''s role (SET ROLE, else the login role) is a superuser or a member of genome_owner, also inside a SECURITY DEFINER function. Virtual time (p_now) and storage paths outside the storage key layout are the owner''s (the simulator and tests); genome_app and genome_agent never pass. See docs/attacks.md#agents-and-the-queue.';
