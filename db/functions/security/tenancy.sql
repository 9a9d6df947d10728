-- Roles, privileges and row-level security. `genome migrate` defines these functions and
-- then calls genome._apply_tenancy() as its named security step, after every migration and
-- every other function file (agents/migrate.py: _apply_security), so tables and functions
-- added by any migration are covered on the next migrate.
--
-- genome_owner  owns the genome schema and its objects; BYPASSRLS, so the scheduled jobs
--               (run_job, which pg_cron runs as genome_owner) and the SECURITY DEFINER
--               functions see every row. LOGIN without a password, for pg_cron.
-- genome_app    the existing app: EXECUTE on the SQL API and the rows of the organization
--               in `app.organization_id`; no `_` helper.
-- genome_api    owns the SQL API functions (SECURITY DEFINER, pinned search_path): NOLOGIN,
--               NOBYPASSRLS, a member of genome_app and named in the tenant policies, so
--               inside an API function the caller's organization still binds every row; it
--               alone executes the helpers the API calls. Nobody is a member of it.
-- genome_agent  the model-calling agents: only the queue functions and the result writers
--               (SECURITY DEFINER, fixed search_path), which check the caller's lease.
-- genome_dashboard  the dashboard's LOGIN role (root connects as it over the project
--               cluster's socket): owns nothing, NOBYPASSRLS, a member of genome_app. It
--               finds the person logging in (dashboard_user), then does each request's work
--               as genome_app with app.organization_id set to that person's organization
--               (docs/security.md#dashboard-logins).
--
-- No `_` helper is executable by genome_app or genome_agent (the API functions run as
-- genome_api, which executes the helpers they call; each such helper bounds its own inputs).
-- Every login role but genome_owner has a statement_timeout
-- (docs/security.md#per-role-limits).
--
-- Roles are cluster-wide and created once; privileges and policies are per database and
-- re-applied here on every migrate. Row-level security is enabled, not FORCEd: table owners
-- (genome_owner, the migrating superuser) keep seeing every row, which the cross-brand jobs
-- need; the app and agent roles are never owners.

CREATE OR REPLACE FUNCTION genome.current_organization()
RETURNS uuid
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = genome, public
AS $$
DECLARE
    v_setting text := btrim(current_setting('app.organization_id', true));
BEGIN
    IF v_setting IS NULL OR v_setting = '' THEN
        RETURN NULL;
    END IF;
    -- The forms uuid input accepts (a hyphen after any group of four hex digits, braces
    -- around), tested by pattern rather than by catching the cast's error: an EXCEPTION
    -- block cannot run in a parallel worker, and every tenant policy calls this, so no
    -- query through the policies could scan in parallel (docs/security.md#row-level-security).
    IF v_setting !~* '^(\{[0-9a-f]{4}(-?[0-9a-f]{4}){7}\}|[0-9a-f]{4}(-?[0-9a-f]{4}){7})$' THEN
        RAISE EXCEPTION 'app.organization_id must be an organization id (uuid), got %',
            quote_literal(v_setting)
            USING ERRCODE = 'GN950',
                  HINT = 'SET app.organization_id = ''<organization uuid>''';
    END IF;
    RETURN v_setting::uuid;
END
$$;
COMMENT ON FUNCTION genome.current_organization() IS
'The organization of this session: the setting app.organization_id as a uuid, or NULL when it is not set (an app session without an organization sees no tenant rows). Every tenant policy compares a row''s tenant key with it, once per statement (docs/security.md#row-level-security). GN950 when the setting is not a uuid.';

CREATE OR REPLACE FUNCTION genome.owner_session()
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- Definer (genome_owner's), so the policies may call it without the app executing the
    -- `_` helper. PL/pgSQL, as current_organizations.
    RETURN genome.current_organization() IS NULL AND genome._caller_is_owner();
END
$$;
COMMENT ON FUNCTION genome.owner_session() IS
'True when the session sets no organization and its own role (login or SET ROLE) is the owner or a superuser (genome._caller_is_owner): a scheduled job or the migrating superuser, which read every row directly; the tenant policies then show an API function (running as genome_api) every row too, rows without a tenant key included (docs/security.md#api-functions). Executable by genome_app and genome_api, whose policies call it.';

CREATE OR REPLACE FUNCTION genome.current_organizations()
RETURNS uuid []
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_organization uuid := genome.current_organization();
BEGIN
    -- The organizations a session's tenant policies show (docs/security.md#api-functions):
    -- the session's organization; with none set, every organization when the session's own
    -- role is the owner or a superuser, else none. No policy calls it any more (they compare
    -- one tenant key with current_organization(), docs/security.md#row-level-security); it
    -- stays for callers. Definer (genome_owner's) so reading organizations does not recurse
    -- into their policy.
    IF v_organization IS NOT NULL THEN
        RETURN ARRAY[v_organization];
    ELSIF genome._caller_is_owner() THEN
        RETURN ARRAY(SELECT o.id FROM public.organizations AS o);
    END IF;
    RETURN '{}'::uuid [];
END
$$;
COMMENT ON FUNCTION genome.current_organizations() IS
'The organizations whose rows a session''s tenant policies show: the session''s app.organization_id; without one, every organization when the session''s own role (login or SET ROLE) is the owner or a superuser (genome._caller_is_owner: a scheduled job or the migrating superuser calling an API function, which runs as genome_api), else none. No policy calls it (they compare one tenant key with genome.current_organization(), and genome_owner_session covers the owner''s session: docs/security.md#row-level-security). SECURITY DEFINER as genome_owner so it reads organizations without recursing into their policy; executable by genome_app and genome_api. GN950 when the setting is not a uuid.';

CREATE OR REPLACE FUNCTION genome._ensure_role(p_role text, p_options text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE ROLE %I %s', p_role, p_options);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        -- Another database of this cluster migrated at the same moment and made it.
        RETURN false;
    END;
    RETURN true;
END
$$;
COMMENT ON FUNCTION genome._ensure_role(text, text) IS
'Internal: CREATE ROLE p_role with p_options unless the cluster already has it (roles are cluster-wide; a concurrent creation by another database''s migration counts as existing). Returns true when it created the role.';

CREATE OR REPLACE FUNCTION genome._tenant_links()
RETURNS TABLE (
    table_oid oid,
    table_name text,
    link_column text,
    parent_name text,
    parent_column text
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    -- The ownership chain, parents in rank order: a parent table's policy may only look at
    -- parents of lower rank, so policies never recurse into one another.
    WITH fixed (rank, parent_oid, link_names) AS (
        SELECT p.rank::numeric, p.parent_oid, p.link_names
        FROM (
            VALUES
            (0, to_regclass('public.organizations'), ARRAY['organization_id']),
            (1, to_regclass('public.brands'), ARRAY['brand_id']),
            (2, to_regclass('public.products'), ARRAY['product_id']),
            (3, to_regclass('genome.experiments'), ARRAY['experiment_id']),
            (4, to_regclass('public.ad_runs'), ARRAY['ad_run_id']),
            (5, to_regclass('public.generated_ads'), ARRAY['generated_ad_id']),
            (6, to_regclass('genome.agent_jobs'), ARRAY['agent_job_id'])
        ) AS p (rank, parent_oid, link_names)
        WHERE p.parent_oid IS NOT NULL
    ),

    tables AS (
        SELECT c.oid
        FROM pg_class AS c
        INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
        WHERE n.nspname IN ('public', 'genome') AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
          )
    ),

    fk AS (
        SELECT con.conrelid, con.conkey[1] AS attnum, con.confrelid
        FROM pg_constraint AS con
        INNER JOIN tables AS t ON con.conrelid = t.oid
        WHERE con.contype = 'f' AND cardinality(con.conkey) = 1
    ),

    uuid_columns AS (
        SELECT a.attrelid, a.attnum, a.attname::text AS col
        FROM pg_attribute AS a
        INNER JOIN tables AS t ON a.attrelid = t.oid
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'uuid'::regtype
    ),

    named AS (
        -- By name (organization_id, brand_id, ...), unless the column's foreign key says it
        -- references another table (ad_runs.experiment_id is a generation experiment).
        SELECT u.attrelid AS oid, u.attnum, u.col, f.parent_oid
        FROM uuid_columns AS u
        INNER JOIN fixed AS f ON u.col = ANY (f.link_names)
        WHERE NOT EXISTS (
            SELECT 1 FROM fk
            WHERE fk.conrelid = u.attrelid AND fk.attnum = u.attnum
              AND fk.confrelid <> f.parent_oid
        )
    ),

    direct AS (
        SELECT n.oid, n.col, n.parent_oid FROM named AS n
        UNION
        SELECT u.attrelid, u.col, fk.confrelid
        FROM uuid_columns AS u
        INNER JOIN fk ON u.attrelid = fk.conrelid AND u.attnum = fk.attnum
        INNER JOIN fixed AS f ON fk.confrelid = f.parent_oid
    ),

    extra AS (
        -- Other tables referenced by a foreign key (generation_experiments,
        -- quality_scoring_config, ...) are parents too when their own keys lead only to
        -- organizations, brands or products (rank 2.5).
        SELECT DISTINCT fk.confrelid AS parent_oid, 2.5::numeric AS rank
        FROM fk
        WHERE NOT EXISTS (SELECT 1 FROM fixed AS f WHERE f.parent_oid = fk.confrelid)
          AND EXISTS (SELECT 1 FROM direct AS d WHERE d.oid = fk.confrelid)
          AND NOT EXISTS (
              SELECT 1
              FROM direct AS d
              INNER JOIN fixed AS f ON d.parent_oid = f.parent_oid
              WHERE d.oid = fk.confrelid AND f.rank > 2
          )
    ),

    parents AS (
        SELECT f.parent_oid, f.rank FROM fixed AS f
        UNION ALL
        SELECT e.parent_oid, e.rank FROM extra AS e
    ),

    links AS (
        SELECT d.oid, d.col, d.parent_oid FROM direct AS d
        UNION
        SELECT u.attrelid, u.col, fk.confrelid
        FROM uuid_columns AS u
        INNER JOIN fk ON u.attrelid = fk.conrelid AND u.attnum = fk.attnum
        INNER JOIN extra AS e ON fk.confrelid = e.parent_oid
    )

    SELECT
        l.oid,
        (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c
         INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid WHERE c.oid = l.oid),
        l.col,
        (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c
         INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid WHERE c.oid = l.parent_oid),
        'id'
    FROM links AS l
    INNER JOIN parents AS pr ON l.parent_oid = pr.parent_oid
    LEFT JOIN parents AS own ON l.oid = own.parent_oid
    WHERE own.rank IS NULL OR pr.rank < own.rank
    UNION ALL
    -- The organizations table is its own tenant key.
    SELECT f.parent_oid, 'public.organizations', 'id', NULL, NULL
    FROM fixed AS f
    WHERE f.rank = 0;
$$;
COMMENT ON FUNCTION genome._tenant_links() IS
'Internal: the tenant tables of schemas public and genome and their tenant key columns, found in the catalog: organization_id directly; brand_id, product_id, experiment_id, ad_run_id, generated_ad_id, agent_job_id (by name unless a foreign key says otherwise), and any other uuid column with a single-column foreign key to a parent, through the parent''s own policy. Parents: organizations < brands < products < (other referenced tables whose keys lead only to those, e.g. generation_experiments, quality_scoring_config) < experiments < ad_runs < generated_ads < agent_jobs; a parent only links to parents of lower rank, so policies never recurse. public.organizations is keyed by its id (parent_name NULL).';

CREATE OR REPLACE FUNCTION genome.tenant_tables()
RETURNS TABLE (table_name text, tenant_columns text [], policy_expression text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    -- One comparison of the row's tenant key (genome._tenant_keys: id, its organization
    -- column, or tenant_organization_id, which a trigger writes from the other keys) with
    -- the session's organization, computed once per statement (an InitPlan): an index key,
    -- and no array of a parent's visible ids per level (docs/security.md#row-level-security).
    SELECT
        k.table_name,
        k.key_columns,
        format('%I = (SELECT genome.current_organization())', k.tenant_column)
    FROM genome._tenant_keys() AS k
    ORDER BY k.table_name;
$$;
COMMENT ON FUNCTION genome.tenant_tables() IS
'The tenant tables (row-level security for genome_app and genome_api), with their tenant key columns and the expression of their policy genome_app_tenant: a row is visible and writable when its tenant key (public.organizations: id; a table whose only key is an organization: that column; any other: tenant_organization_id, the one organization all its set keys lead to through their parents, written by a trigger) is the session''s organization (genome.current_organization(), computed once per statement). A second policy, genome_owner_session, shows genome_api every row when the session sets no organization and its own role is the owner (docs/security.md#row-level-security).';

CREATE OR REPLACE FUNCTION genome._apply_policy(
    p_table text,
    p_policy text,
    p_command text,
    p_role text,
    p_using text,
    p_check text
)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_signature text := concat_ws(' | ', p_command, p_role, p_using, p_check);
    v_current text;
BEGIN
    SELECT d.description INTO v_current
    FROM pg_policy AS pol
    LEFT JOIN pg_description AS d
        ON d.objoid = pol.oid AND d.classoid = 'pg_policy'::regclass AND d.objsubid = 0
    WHERE pol.polrelid = p_table::regclass AND pol.polname = p_policy;
    IF FOUND AND v_current IS NOT DISTINCT FROM v_signature THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP POLICY IF EXISTS %I ON %s', p_policy, p_table);
    EXECUTE format(
        'CREATE POLICY %I ON %s AS PERMISSIVE FOR %s TO %s USING (%s)%s',
        p_policy, p_table, p_command,
        (SELECT string_agg(quote_ident(btrim(r)), ', ') FROM unnest(string_to_array(p_role, ',')) AS r),
        p_using,
        CASE WHEN p_check IS NULL THEN '' ELSE format(' WITH CHECK (%s)', p_check) END
    );
    EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', p_policy, p_table, v_signature);
    RETURN true;
END
$$;
COMMENT ON FUNCTION genome._apply_policy(text, text, text, text, text, text) IS
'Internal: (re)create one row-level security policy (for p_role: one role name or several separated by commas) unless it already exists with the same command, role and expressions (recorded in the policy''s comment), so a re-run of genome migrate takes no table locks for unchanged policies. Returns true when it (re)created the policy.';

-- One piece on purpose: it reads top-down as the numbered steps of one idempotent script
-- (roles, ownership, table privileges and row-level security, the agent's reads, function
-- privileges) that genome migrate runs as its named security step, returning one summary of
-- what changed; the per-role and per-policy work is already in _ensure_role, tenant_tables
-- and _apply_policy, and no other caller needs any one step alone.
CREATE OR REPLACE FUNCTION genome._callees(p_functions text [])
RETURNS SETOF text
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    -- Calls are found in the function bodies as `genome.name(` (genome functions call one
    -- another schema-qualified). Running an invoker function checks EXECUTE on each function
    -- it calls, so a role needs EXECUTE on the callees of what it runs.
    WITH RECURSIVE called (name) AS (
        SELECT DISTINCT m[1]
        FROM pg_proc AS p, regexp_matches(p.prosrc, 'genome\.([a-z_][a-z0-9_]*)\s*\(', 'g') AS m
        WHERE p.pronamespace = 'genome'::regnamespace AND p.proname = ANY (p_functions)
        UNION
        SELECT m[1]
        FROM called AS c
        INNER JOIN pg_proc AS p
            ON p.pronamespace = 'genome'::regnamespace AND p.proname = c.name
        CROSS JOIN LATERAL regexp_matches(p.prosrc, 'genome\.([a-z_][a-z0-9_]*)\s*\(', 'g') AS m
    )
    SELECT c.name
    FROM called AS c
    WHERE EXISTS (
        SELECT 1 FROM pg_proc AS p
        WHERE p.pronamespace = 'genome'::regnamespace AND p.proname = c.name
    );
$$;
COMMENT ON FUNCTION genome._callees(text []) IS
'Internal: the genome functions that the genome functions named p_functions call, directly or through one another (found as genome.name( in their bodies). genome._apply_tenancy grants a role EXECUTE on a `_` helper only when it is among the callees of the functions that role may run.';

CREATE OR REPLACE FUNCTION genome._apply_role_timeout(p_role text, p_setting text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_timeout text := (genome._setting_num(p_setting) * 1000)::bigint::text;
    r record;
    v_roles integer := 0;
BEGIN
    -- Role settings apply to the role a session logs in as, not to the roles it is a member
    -- of: the login roles in p_role get the timeout too.
    FOR r IN
        SELECT p_role AS rolname
        UNION
        SELECT m.rolname
        FROM pg_auth_members AS am
        INNER JOIN pg_roles AS m ON am.member = m.oid
        WHERE am.roleid = p_role::regrole AND m.rolcanlogin AND NOT m.rolsuper
          -- the dashboard's login role has a setting of its own
          AND m.rolname <> 'genome_dashboard'
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_db_role_setting AS s
            WHERE s.setrole = r.rolname::regrole AND s.setdatabase = 0
              AND ('statement_timeout=' || v_timeout) = ANY (s.setconfig)
        ) THEN
            EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', r.rolname, v_timeout);
        END IF;
        v_roles := v_roles + 1;
    END LOOP;
    RETURN v_roles;
END
$$;
COMMENT ON FUNCTION genome._apply_role_timeout(text, text) IS
'Internal: ALTER ROLE p_role, and every login role that is a direct member of it, SET statement_timeout to the setting p_setting (seconds; 0 turns it off), unless already so. Role settings take effect when a session logs in as the role. Returns how many roles have it.';

-- One piece on purpose: its numbered steps (roles, ownership, privileges, row-level
-- security) read the same lists of API, agent, dashboard and policy functions declared at
-- its top, and must run in that order in one transaction, so a re-run converges.
CREATE OR REPLACE FUNCTION genome._apply_tenancy()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    -- The agents' entry points (SECURITY DEFINER; each checks the caller's lease).
    v_agent_functions constant text [] := ARRAY[
        'claim_jobs', 'heartbeat_job', 'complete_job', 'fail_job', 'release_job', 'reap_jobs',
        'job_context', 'record_generation', 'record_defect_scan', 'record_review',
        'record_embedding', 'record_embedding_from_lookup', 'review_exemplars',
        'agent_has_work', 'agent_lease_seconds'
    ];
    -- The dashboard's own functions (agents/dashboard/db.py): its pages and actions run as
    -- genome_app (SET LOCAL ROLE), with genome_app's rights.
    v_dashboard_functions constant text [] := ARRAY['dashboard_user'];
    -- Functions the tenant policies call: they run with the querying role's rights, so
    -- they stay SECURITY INVOKER and executable by genome_app.
    v_policy_functions constant text [] := ARRAY['current_organization', 'current_organizations', 'owner_session'];
    v_job_functions text [];
    v_app_functions text [];
    v_app_helpers text [];
    v_api_grants text [];
    v_definer integer := 0;
    v_dashboard_helpers text [];
    v_timeouts jsonb;
    t record;
    f record;
    v_tenant oid [];
    v_policies integer := 0;
    v_owned integer := 0;
    v_roles text [] := '{}';
    -- The setting is tested inline first (no call; PostgreSQL may put this policy before
    -- the app's in their OR), so a session with an organization never runs the definer
    -- function; a malformed setting still fails the app's policy with GN950.
    v_owner_policy constant text :=
        'coalesce(btrim(current_setting(''app.organization_id'', true)), '''') = '''' '
        'AND (SELECT genome.owner_session())';
    v_tenant_keys integer;
    v_app_policy boolean;
BEGIN
    -- 1. Roles (cluster-wide, once).
    -- genome_owner may log in (it has no password) because pg_cron runs the scheduled jobs
    -- as it and refuses roles without LOGIN; clusters set up before that get it here.
    IF genome._ensure_role('genome_owner', 'LOGIN BYPASSRLS') THEN
        v_roles := v_roles || 'genome_owner'::text;
    ELSIF NOT (SELECT r.rolcanlogin FROM pg_roles AS r WHERE r.rolname = 'genome_owner') THEN
        ALTER ROLE genome_owner LOGIN;
        v_roles := v_roles || 'genome_owner:login'::text;
    END IF;
    IF genome._ensure_role('genome_app', 'NOLOGIN NOBYPASSRLS') THEN
        v_roles := v_roles || 'genome_app'::text;
    END IF;
    IF genome._ensure_role('genome_agent', 'NOLOGIN NOBYPASSRLS') THEN
        v_roles := v_roles || 'genome_agent'::text;
    END IF;
    -- The dashboard logs in as this role and works as genome_app for the logged-in person's
    -- organization. A function that RESETs ROLE falls back to genome_dashboard, which has no
    -- more than genome_app (NOBYPASSRLS, so the organization still binds it), job_runs and
    -- dashboard_user. Clusters set up when it read every organization lose BYPASSRLS here.
    IF genome._ensure_role('genome_dashboard', 'LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE') THEN
        v_roles := v_roles || 'genome_dashboard'::text;
    ELSIF (SELECT r.rolbypassrls FROM pg_roles AS r WHERE r.rolname = 'genome_dashboard') THEN
        ALTER ROLE genome_dashboard NOBYPASSRLS;
        v_roles := v_roles || 'genome_dashboard:nobypassrls'::text;
    END IF;
    IF NOT pg_has_role('genome_dashboard', 'genome_app', 'MEMBER') THEN
        GRANT genome_app TO genome_dashboard;
        v_roles := v_roles || 'genome_dashboard:genome_app'::text;
    END IF;
    -- The owner of the app's API functions (SECURITY DEFINER): they run as genome_api, so
    -- the app needs EXECUTE on them only, never on the `_` helpers they call. Nobody logs in
    -- as it or is a member of it. It is NOBYPASSRLS and a member of genome_app, and the
    -- tenant policies name it too (so they bind it even were it NOINHERIT): inside an API
    -- function the caller's app.organization_id still decides which rows exist.
    IF genome._ensure_role('genome_api', 'NOLOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE') THEN
        v_roles := v_roles || 'genome_api'::text;
    ELSIF (SELECT r.rolbypassrls OR r.rolcanlogin FROM pg_roles AS r WHERE r.rolname = 'genome_api') THEN
        ALTER ROLE genome_api NOLOGIN NOBYPASSRLS;
        v_roles := v_roles || 'genome_api:nologin_nobypassrls'::text;
    END IF;
    IF NOT pg_has_role('genome_api', 'genome_app', 'MEMBER') THEN
        GRANT genome_app TO genome_api;
        v_roles := v_roles || 'genome_api:genome_app'::text;
    END IF;

    -- The app's SQL API: the documented functions (no `_` prefix) that are neither
    -- scheduled jobs nor agent, dashboard or policy functions (docs/security.md#roles).
    SELECT array_agg(DISTINCT fn) INTO v_job_functions
    FROM genome.job_schedules AS j, unnest(j.invocations) AS fn;
    v_job_functions := coalesce(v_job_functions, '{}') || ARRAY['run_job', '_apply_tenancy', '_ensure_role', '_apply_policy'];
    SELECT coalesce(array_agg(p.proname::text), '{}') INTO v_app_functions
    FROM pg_proc AS p
    WHERE p.pronamespace = 'genome'::regnamespace AND p.prokind IN ('f', 'p')
      AND p.proname NOT LIKE '\_%'
      AND NOT p.proname = ANY (v_job_functions)
      AND NOT p.proname = ANY (v_agent_functions)
      AND NOT p.proname = ANY (v_dashboard_functions)
      AND NOT p.proname = ANY (v_policy_functions);
    -- Each is SECURITY DEFINER with a pinned search_path (its file says so; one added
    -- without it is made so here rather than left to run as the app).
    FOR f IN
        SELECT a.name, a.pinned
        FROM (
            SELECT p.oid::regprocedure::text AS name, p.prosecdef,
                   EXISTS (
                       SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%'
                   ) AS pinned
            FROM pg_proc AS p
            WHERE p.pronamespace = 'genome'::regnamespace AND p.proname = ANY (v_app_functions)
        ) AS a
        WHERE NOT (a.prosecdef AND a.pinned)
    LOOP
        IF NOT f.pinned THEN
            EXECUTE format('ALTER FUNCTION %s SET search_path = genome, public, pg_temp', f.name);
        END IF;
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', f.name);
        v_definer := v_definer + 1;
    END LOOP;

    -- 1b. Every tenant table's tenant key column and the triggers that keep it, before the
    -- policies compare it (and before step 2, which makes their functions genome_owner's).
    v_tenant_keys := genome._apply_tenant_keys();

    -- 2. genome_owner owns the genome schema and everything in it (not extension members).
    IF (SELECT n.nspowner FROM pg_namespace AS n WHERE n.nspname = 'genome')
       <> 'genome_owner'::regrole THEN
        ALTER SCHEMA genome OWNER TO genome_owner;
    END IF;
    FOR f IN
        SELECT c.oid::regclass::text AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                   WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
        FROM pg_class AS c
        WHERE c.relnamespace = 'genome'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relowner <> 'genome_owner'::regrole
          -- Sequences owned by a table column follow their table.
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND d.deptype IN ('a', 'i', 'e')
          )
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO genome_owner', f.kind, f.name);
        v_owned := v_owned + 1;
    END LOOP;
    -- The app's API functions are genome_api's (a definer function of genome_owner, which
    -- bypasses row-level security, would show the app every organization); all else is
    -- genome_owner's.
    FOR f IN
        SELECT p.oid::regprocedure::text AS name, p.prokind,
               CASE WHEN p.proname = ANY (v_app_functions) THEN 'genome_api' ELSE 'genome_owner' END AS owner
        FROM pg_proc AS p
        WHERE p.pronamespace = 'genome'::regnamespace
          AND p.proowner <> (
              CASE WHEN p.proname = ANY (v_app_functions) THEN 'genome_api' ELSE 'genome_owner' END
          )::regrole
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          )
    LOOP
        EXECUTE format(
            'ALTER %s %s OWNER TO %I',
            CASE f.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
            f.name, f.owner
        );
        v_owned := v_owned + 1;
    END LOOP;

    -- 3. Schema and table privileges.
    GRANT USAGE ON SCHEMA genome TO genome_app, genome_agent, genome_dashboard, genome_api;
    GRANT USAGE ON SCHEMA public TO genome_owner, genome_app, genome_agent, genome_dashboard, genome_api;
    REVOKE ALL ON ALL TABLES IN SCHEMA genome FROM PUBLIC;
    -- The agent holds no privilege on any genome table, nor on a column of one (checked
    -- first, so a re-run leaves the access lists exactly as they were).
    FOR t IN
        SELECT c.oid::regclass::text AS table_name
        FROM pg_class AS c
        WHERE c.relnamespace = 'genome'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND (
              EXISTS (
                  SELECT 1 FROM aclexplode(c.relacl) AS a
                  WHERE a.grantee = 'genome_agent'::regrole
              )
              OR EXISTS (
                  SELECT 1 FROM pg_attribute AS att, aclexplode(att.attacl) AS a
                  WHERE att.attrelid = c.oid AND a.grantee = 'genome_agent'::regrole
              )
          )
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM genome_agent', t.table_name);
    END LOOP;
    SELECT array_agg(DISTINCT l.table_oid) INTO v_tenant FROM genome._tenant_links() AS l;

    FOR t IN SELECT * FROM genome.tenant_tables() LOOP
        IF NOT (SELECT c.relrowsecurity FROM pg_class AS c WHERE c.oid = t.table_name::regclass) THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.table_name);
        END IF;
        EXECUTE format('GRANT ALL ON %s TO genome_owner', t.table_name);
        -- genome_api has the app's rights of its own (not through membership).
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO genome_app, genome_api', t.table_name);
        EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON %s FROM genome_app, genome_api', t.table_name);
        -- The owner's own session calling an API function (running as genome_api) sees
        -- every row, those without a tenant key too (docs/security.md#api-functions): a
        -- policy of its own, for genome_api only, so the app's stays one indexable
        -- comparison; its definer call runs only when the session sets no organization.
        -- A table counts once in policies_changed, whichever of its two changed.
        v_app_policy := genome._apply_policy(
            t.table_name, 'genome_app_tenant', 'ALL', 'genome_app, genome_api',
            t.policy_expression, t.policy_expression
        );
        IF genome._apply_policy(
            t.table_name, 'genome_owner_session', 'ALL', 'genome_api',
            v_owner_policy, v_owner_policy
        ) OR v_app_policy THEN
            v_policies := v_policies + 1;
        END IF;
    END LOOP;

    -- Secret columns: an agent's lease token (its proof that it holds a job,
    -- docs/security.md#definer-functions) is read by no role but the owner, so the app
    -- reads genome.agent_jobs column by column, all but that one.
    FOR t IN
        SELECT a.attrelid::regclass::text AS table_name,
               string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS columns
        FROM pg_attribute AS a
        WHERE a.attrelid = 'genome.agent_jobs'::regclass AND a.attnum > 0
          AND NOT a.attisdropped AND a.attname <> 'lease_token'
        GROUP BY a.attrelid
    LOOP
        EXECUTE format('REVOKE SELECT ON %s FROM genome_app, genome_api', t.table_name);
        EXECUTE format('GRANT SELECT (%s) ON %s TO genome_app, genome_api', t.columns, t.table_name);
    END LOOP;

    -- Global genome tables (registry, settings, rubric, job schedules): read-only to the
    -- app. They hold no tenant rows. Not the job runs (their results count every
    -- organization's rows) nor the sequences (platform-wide counters):
    -- docs/security.md#tenant-data.
    FOR t IN
        SELECT c.oid::regclass::text AS table_name
        FROM pg_class AS c
        WHERE c.relnamespace = 'genome'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND NOT c.oid = ANY (v_tenant)
          AND c.relname NOT IN ('schema_migrations', 'job_runs')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO genome_app, genome_api', t.table_name);
        EXECUTE format(
            'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM genome_app, genome_api', t.table_name
        );
    END LOOP;
    REVOKE ALL ON genome.job_runs FROM genome_app, genome_api;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA genome FROM genome_app, genome_api;

    -- The dashboard's own rights: none on any table but the job runs (the virtual clock its
    -- pages are computed at, read before it switches to genome_app); the rest it has as
    -- genome_app. Nobody but the owner reads the dashboard users (their password hashes):
    -- not the app, although the table is a tenant table.
    FOR t IN
        SELECT c.oid::regclass::text AS table_name
        FROM pg_class AS c
        WHERE (c.relnamespace = 'genome'::regnamespace OR c.oid = ANY (v_tenant))
          AND c.relkind IN ('r', 'p', 'v', 'm')
          AND EXISTS (
              SELECT 1 FROM aclexplode(c.relacl) AS a
              WHERE a.grantee = 'genome_dashboard'::regrole
          )
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM genome_dashboard', t.table_name);
    END LOOP;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA genome FROM genome_dashboard;
    GRANT SELECT ON genome.job_runs TO genome_dashboard;
    REVOKE ALL ON genome.dashboard_users FROM genome_app, genome_api;

    -- 4. genome_agent reads no table: everything it needs comes through its definer
    -- functions (the lease-checked job_context and review_exemplars, agent_has_work for its
    -- idle check, agent_lease_seconds for its lease).

    -- 5. Functions: nothing for PUBLIC. The agent gets its entry points; the app gets the SQL
    -- API (definer functions of genome_api, bound by its organization), but not the scheduled
    -- jobs (run_job and what it invokes compute across brands and organizations: they run as
    -- genome_owner or the superuser from pg_cron), the agents' functions, genome_owner's
    -- definer functions (they bypass row-level security), nor any `_` helper.
    -- genome_api executes the API functions (they call one another) and what they call,
    -- and the functions the tenant policies call; the app executes only the API functions
    -- and the policies' functions.
    SELECT coalesce(array_agg(c), '{}') INTO v_app_helpers
    FROM genome._callees(v_app_functions || v_policy_functions) AS c;
    v_api_grants := v_app_functions || v_policy_functions || v_app_helpers;
    SELECT coalesce(array_agg(c), '{}') INTO v_dashboard_helpers
    FROM genome._callees(v_dashboard_functions) AS c;
    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA genome FROM PUBLIC;
    FOR f IN
        SELECT p.oid::regprocedure::text AS name, p.proname::text AS proname, p.prosecdef
        FROM pg_proc AS p
        WHERE p.pronamespace = 'genome'::regnamespace AND p.prokind IN ('f', 'p')
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          )
    LOOP
        IF f.proname = ANY (v_agent_functions) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO genome_agent', f.name);
        ELSE
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM genome_agent', f.name);
        END IF;
        IF f.proname = ANY (v_app_functions) OR f.proname = ANY (v_policy_functions) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO genome_app', f.name);
        ELSE
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM genome_app', f.name);
        END IF;
        -- A job's steps (_<job>_<step>, e.g. _update_scores_combos) are the job's, and no
        -- definer function of genome_owner is genome_api's.
        IF f.proname = ANY (v_api_grants)
           AND NOT f.proname = ANY (v_job_functions)
           AND NOT f.proname LIKE ANY (SELECT '\_' || j || '\_%' FROM unnest(v_job_functions) AS j)
           AND NOT f.proname = ANY (v_agent_functions)
           AND NOT (f.prosecdef AND NOT f.proname = ANY (v_app_functions || v_policy_functions)) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO genome_api', f.name);
        ELSE
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM genome_api', f.name);
        END IF;
        IF f.proname = ANY (v_dashboard_functions) OR f.proname = ANY (v_dashboard_helpers) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO genome_dashboard', f.name);
        ELSE
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM genome_dashboard', f.name);
        END IF;
    END LOOP;

    -- 6. Per-role limits: a statement_timeout for every role but genome_owner, whose
    -- scheduled jobs may take as long as they need.
    v_timeouts := jsonb_build_object(
        'genome_app', genome._apply_role_timeout('genome_app', 'app_statement_timeout_seconds'),
        'genome_agent', genome._apply_role_timeout('genome_agent', 'agent_statement_timeout_seconds'),
        'genome_dashboard',
        genome._apply_role_timeout('genome_dashboard', 'dashboard_statement_timeout_seconds')
    );

    RETURN jsonb_build_object(
        'roles_created', to_jsonb(v_roles),
        'tenant_tables', cardinality(v_tenant),
        'policies_changed', v_policies,
        'tenant_key_objects_changed', v_tenant_keys,
        'objects_reowned', v_owned,
        'made_definer', v_definer,
        'roles_with_timeout', v_timeouts
    );
END
$$;
COMMENT ON FUNCTION genome._apply_tenancy() IS
'Idempotent security set-up, run at the end of every genome migrate: creates the cluster roles genome_owner (LOGIN without a password, for pg_cron, which runs the scheduled jobs as it; BYPASSRLS; owns schema genome and its objects but the API functions), genome_app, genome_agent and genome_api (NOLOGIN, NOBYPASSRLS, a member of genome_app; owns the app''s SQL API functions) once; makes every API function (no `_` prefix, not a scheduled job nor an agent, dashboard or policy function) SECURITY DEFINER with a pinned search_path and genome_api''s; enables row-level security (not FORCEd) on every tenant table of genome.tenant_tables() with the policy genome_app_tenant for genome_app and genome_api (rooted in genome.current_organizations(): the session''s organization, or every one for the owner''s own session calling an API function); grants genome_app and genome_api DML on tenant tables (every column of genome.agent_jobs but lease_token readable), SELECT on the global genome tables except job_runs (no sequence); grants genome_app EXECUTE on the API functions and the policies'' current_organization(s) only, genome_api on those and the functions they call, never a scheduled job (genome.job_schedules.invocations), its steps (_<job>_<step>), an agent function or another definer function; grants the agent only its entry points (queue functions, job_context, result writers, review_exemplars, agent_has_work, agent_lease_seconds) and no table or column privilege. Revokes EXECUTE from PUBLIC on every genome function. No `_` function is executable by genome_app, genome_agent or genome_dashboard. Creates the dashboard''s login role genome_dashboard (owns nothing; NOBYPASSRLS; a member of genome_app, as which it does each request''s work for the logged-in user''s organization; SELECT on job_runs and EXECUTE on dashboard_user only). Nobody but the owner reads genome.dashboard_users. Sets statement_timeout on genome_app, genome_agent, genome_dashboard and their login members from the *_statement_timeout_seconds settings (genome_owner none). Returns what it changed.';
