-- The dashboard's logins (docs/security.md#dashboard-logins): the dashboard logs in to the
-- database as genome_dashboard, finds the person logging in through this function, and
-- then does each request's work as genome_app with app.organization_id set to that
-- person's organization, so row-level security isolates organizations.

CREATE OR REPLACE FUNCTION genome.dashboard_user(p_username text)
RETURNS TABLE (
    id uuid, organization_id uuid, organization_name text, username text, password_hash text,
    role text, is_active boolean
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT u.id, u.organization_id, o.name, u.username, u.password_hash, u.role, u.is_active
    FROM genome.dashboard_users AS u
    INNER JOIN public.organizations AS o ON o.id = u.organization_id
    WHERE u.username = p_username
$$;
COMMENT ON FUNCTION genome.dashboard_user(text) IS
'The dashboard user named p_username (none when unknown): id, organization, password hash, role and whether active. SECURITY DEFINER (the users table is read by no login role); executable by genome_dashboard only, which verifies the password itself. Raises nothing.';
