-- The tenant key of every tenant table: the one column the tenant policies compare with the
-- session's organization (docs/security.md#row-level-security). genome._apply_tenancy calls
-- genome._apply_tenant_keys() before it (re)creates the policies.
--
-- public.organizations is keyed by its id, a table whose only tenant key is an organization
-- (brands.organization_id) by that column; every other tenant table gets the column
-- tenant_organization_id, the organization its tenant keys lead to, written by a row trigger
-- from the parents' own tenant keys and kept when a parent moves. So a policy is one
-- indexable comparison with a value computed once per statement, not an array of the
-- parent's visible ids per level.

-- Before the trigger's own statements (trigger_statements).
DROP FUNCTION IF EXISTS genome._tenant_keys();
CREATE OR REPLACE FUNCTION genome._tenant_keys()
RETURNS TABLE (
    table_oid oid,
    table_name text,
    tenant_column text,
    key_columns text [],
    depth integer,
    org_expression text,
    trigger_statements text
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH RECURSIVE links AS MATERIALIZED (
        SELECT * FROM genome._tenant_links()
    ),

    tables AS (
        SELECT
            l.table_oid,
            l.table_name,
            CASE
                WHEN bool_or(l.parent_name IS NULL) THEN 'id'
                WHEN count(*) = 1 AND bool_and(l.parent_name = 'public.organizations')
                    THEN min(l.link_column)
                ELSE 'tenant_organization_id'
            END AS tenant_column,
            array_agg(l.link_column ORDER BY l.link_column) AS key_columns
        FROM links AS l
        GROUP BY l.table_oid, l.table_name
    ),

    depths (table_oid, depth) AS (
        -- Parents always rank lower (genome._tenant_links), so this ends.
        SELECT l.table_oid, 0 FROM links AS l WHERE l.parent_name IS NULL
        UNION
        SELECT l.table_oid, d.depth + 1
        FROM links AS l
        INNER JOIN depths AS d ON l.parent_name::regclass::oid = d.table_oid
    ),

    keys AS (
        -- Each key's organization, as SQL over a row named __row__: an organization key is
        -- its own value; another key is its parent row's tenant key (NULL when the parent
        -- does not exist, or has no tenant key of its own).
        SELECT
            l.table_oid,
            l.link_column,
            CASE
                WHEN l.parent_name = 'public.organizations'
                    THEN format('__row__.%I', l.link_column)
                WHEN pt.tenant_column IS NULL THEN 'NULL::uuid'
                ELSE format(
                    '(SELECT p.%I FROM %s AS p WHERE p.%I = __row__.%I)',
                    pt.tenant_column, l.parent_name, l.parent_column, l.link_column
                )
            END AS expression
        FROM links AS l
        LEFT JOIN tables AS pt ON l.parent_name = pt.table_name
        WHERE l.parent_name IS NOT NULL
    )

    SELECT
        t.table_oid,
        t.table_name,
        t.tenant_column,
        t.key_columns,
        (SELECT max(d.depth) FROM depths AS d WHERE d.table_oid = t.table_oid),
        CASE
            WHEN t.tenant_column <> 'tenant_organization_id' THEN NULL
            WHEN cardinality(t.key_columns) = 1
                THEN (SELECT k.expression FROM keys AS k WHERE k.table_oid = t.table_oid)
            -- Several keys: their one common organization; none when a key that is set
            -- leads nowhere or two keys lead to different organizations.
            ELSE (
                SELECT format(
                    '(SELECT CASE WHEN bool_and(k.org IS NOT NULL) AND count(DISTINCT k.org) = 1 '
                    'THEN (array_agg(k.org))[1] END FROM (VALUES %s) AS k (key, org) '
                    'WHERE k.key IS NOT NULL)',
                    string_agg(
                        format('(__row__.%I, %s)', k.link_column, k.expression),
                        ', ' ORDER BY k.link_column
                    )
                )
                FROM keys AS k
                WHERE k.table_oid = t.table_oid
            )
        END,
        -- The same for the row trigger, in PL/pgSQL over NEW: with several keys, each set
        -- key's organization is looked up once into v_key and checked against the others'
        -- (v_org, v_ok declared by the trigger). The expression above, one aggregate query
        -- over a VALUES list with a DISTINCT count, cost about 20 µs a row written (the
        -- learner rewrites thousands of rows a day).
        CASE
            WHEN t.tenant_column <> 'tenant_organization_id' THEN NULL
            WHEN cardinality(t.key_columns) = 1 THEN (
                SELECT format('    NEW.tenant_organization_id := %s;', replace(k.expression, '__row__.', 'NEW.'))
                FROM keys AS k
                WHERE k.table_oid = t.table_oid
            )
            ELSE (
                SELECT string_agg(
                    format(
                        E'    IF NEW.%I IS NOT NULL THEN\n'
                        '        v_key := %s;\n'
                        '        v_ok := v_ok AND v_key IS NOT NULL AND v_key = coalesce(v_org, v_key);\n'
                        '        v_org := coalesce(v_org, v_key);\n'
                        '    END IF;',
                        k.link_column, replace(k.expression, '__row__.', 'NEW.')
                    ),
                    E'\n' ORDER BY k.link_column
                ) || E'\n    NEW.tenant_organization_id := CASE WHEN v_ok THEN v_org END;'
                FROM keys AS k
                WHERE k.table_oid = t.table_oid
            )
        END
    FROM tables AS t;
$$;
COMMENT ON FUNCTION genome._tenant_keys() IS
'Internal: every tenant table (genome._tenant_links) with the column its policy compares with the session''s organization: id for public.organizations, the organization key of a table whose only tenant key is an organization, else tenant_organization_id; its tenant key columns, its depth below organizations (parents first), and for a tenant_organization_id table the SQL expression over a row named __row__ that computes it: the one organization every set key leads to through its parent''s own tenant key, NULL when no key is set, a key leads nowhere, or two keys disagree; and the same as PL/pgSQL statements over NEW for its row trigger (variables v_key, v_org, v_ok when it has several keys) (docs/security.md#row-level-security).';

-- One piece on purpose: the columns, the generated trigger functions, the triggers and the
-- backfill are one idempotent step over the same list of tables, in depth order, so a
-- parent's keys are filled before its children read them.
CREATE OR REPLACE FUNCTION genome._ensure_trigger_function(p_function text, p_body text, p_comment text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- One generated trigger function of _apply_tenant_keys: written only when its body
    -- changed, so a migrate that changes nothing rewrites nothing.
    IF to_regprocedure(p_function || '()') IS NOT NULL
       AND (SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = to_regprocedure(p_function || '()'))
           IS NOT DISTINCT FROM p_body THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
        'SET search_path = genome, public, pg_temp AS %L',
        p_function, p_body
    );
    EXECUTE format('ALTER FUNCTION %s() OWNER TO genome_owner', p_function);
    EXECUTE format('COMMENT ON FUNCTION %s() IS %L', p_function, p_comment);
    RETURN true;
END
$$;
COMMENT ON FUNCTION genome._ensure_trigger_function(text, text, text) IS
'Internal (genome._apply_tenant_keys): creates or replaces the trigger function p_function (a schema-qualified name) with body p_body, SECURITY DEFINER owned by genome_owner, commented p_comment, unless it exists with that body already; returns whether it wrote it (docs/security.md#row-level-security).';

CREATE OR REPLACE FUNCTION genome._apply_tenant_keys()
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    t record;
    c record;
    v_function text;
    v_body text;
    v_replication text;
    v_changed boolean := false;
    v_work integer := 0;
    v_stale boolean;
    v_checks oid [];
    v_restore jsonb := '[]';
    v_index text;
    v_schema oid;
BEGIN
    -- 1. The column, its index, the trigger function that writes it and the trigger.
    FOR t IN
        SELECT k.* FROM genome._tenant_keys() AS k
        WHERE k.tenant_column = 'tenant_organization_id'
        ORDER BY k.depth, k.table_name
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute AS a
            WHERE a.attrelid = t.table_oid AND a.attname = 'tenant_organization_id'
              AND NOT a.attisdropped
        ) THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN tenant_organization_id uuid', t.table_name);
            EXECUTE format(
                'COMMENT ON COLUMN %s.tenant_organization_id IS %L', t.table_name,
                'The organization this row''s tenant keys (' || array_to_string(t.key_columns, ', ')
                || ') lead to, written by the trigger zz_tenant_organization (whatever a writer '
                || 'gives) and compared by the tenant policies; NULL when none is set or they '
                || 'disagree: then only the owner''s session sees the row '
                || '(docs/security.md#row-level-security).'
            );
            v_changed := true;
            v_work := v_work + 1;
        END IF;
        -- Looked up first rather than IF NOT EXISTS, which says so on every migrate.
        SELECT left(c2.relname || '_tenant_organization_id_idx', 63), c2.relnamespace
        INTO v_index, v_schema
        FROM pg_class AS c2 WHERE c2.oid = t.table_oid;
        IF NOT EXISTS (
            SELECT 1 FROM pg_class AS i WHERE i.relname = v_index AND i.relnamespace = v_schema
        ) THEN
            EXECUTE format('CREATE INDEX %I ON %s (tenant_organization_id)', v_index, t.table_name);
            v_work := v_work + 1;
        END IF;

        v_function := format('genome.%I', '_tenant_key_' || replace(t.table_name, '.', '_'));
        v_body := format(
            E'\n%sBEGIN\n'
            '    -- Generated by genome._apply_tenant_keys (docs/security.md#row-level-security).\n'
            '    -- An update that changes no tenant key and keeps the column keeps it.\n'
            '    IF TG_OP = ''UPDATE'' THEN\n'
            '        IF NEW.tenant_organization_id = OLD.tenant_organization_id\n'
            '           AND (%s) IS NOT DISTINCT FROM (%s) THEN\n'
            '            RETURN NEW;\n'
            '        END IF;\n'
            '    END IF;\n'
            '%s\n'
            '    RETURN NEW;\n'
            'END\n',
            CASE WHEN cardinality(t.key_columns) > 1
                THEN E'DECLARE\n    v_key uuid;\n    v_org uuid;\n    v_ok boolean := true;\n' ELSE '' END,
            (SELECT string_agg(format('NEW.%I', k), ', ') FROM unnest(t.key_columns) AS k),
            (SELECT string_agg(format('OLD.%I', k), ', ') FROM unnest(t.key_columns) AS k),
            t.trigger_statements
        );
        IF genome._ensure_trigger_function(
            v_function, v_body,
            'Internal, generated by genome._apply_tenant_keys: the row trigger '
            || 'zz_tenant_organization of ' || t.table_name || ', which sets '
            || 'tenant_organization_id from the tenant keys (' || array_to_string(t.key_columns, ', ')
            || ') on every insert and on every update that changes a key or the column. '
            || 'SECURITY DEFINER (genome_owner, BYPASSRLS) so it reads the parents as they '
            || 'are, not as the writer sees them (docs/security.md#row-level-security).'
        ) THEN
            v_changed := true;
            v_work := v_work + 1;
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger AS tg
            WHERE tg.tgrelid = t.table_oid AND tg.tgname = 'zz_tenant_organization'
        ) THEN
            -- Named to fire after the other BEFORE triggers (in name order), which may set a
            -- key (meta_ad_mapping_brand sets brand_id).
            EXECUTE format(
                'CREATE TRIGGER zz_tenant_organization BEFORE INSERT OR UPDATE ON %s '
                'FOR EACH ROW EXECUTE FUNCTION %s()',
                t.table_name, v_function
            );
            EXECUTE format(
                'COMMENT ON TRIGGER zz_tenant_organization ON %s IS %L', t.table_name,
                'Sets tenant_organization_id from the tenant keys (docs/security.md#row-level-security).'
            );
            v_work := v_work + 1;
        END IF;
    END LOOP;

    -- 2. A parent whose own tenant key changes (the owner moves a brand to another
    -- organization) recomputes its children's, which recompute theirs in turn.
    FOR t IN
        SELECT
            k.table_oid, k.table_name, k.tenant_column,
            string_agg(
                format(
                    '    UPDATE %s SET tenant_organization_id = NULL WHERE %I = NEW.%I;',
                    l.table_name, l.link_column, l.parent_column
                ),
                E'\n' ORDER BY l.table_name, l.link_column
            ) AS updates
        FROM genome._tenant_keys() AS k
        INNER JOIN genome._tenant_links() AS l ON k.table_name = l.parent_name
        INNER JOIN genome._tenant_keys() AS ck ON l.table_oid = ck.table_oid
        WHERE k.tenant_column <> 'id' AND ck.tenant_column = 'tenant_organization_id'
        GROUP BY k.table_oid, k.table_name, k.tenant_column
    LOOP
        v_function := format('genome.%I', '_tenant_cascade_' || replace(t.table_name, '.', '_'));
        v_body := E'\nBEGIN\n'
            || E'    -- Generated by genome._apply_tenant_keys (docs/security.md#row-level-security).\n'
            || E'    -- Setting the column to NULL makes each child''s own trigger recompute it.\n'
            || t.updates || E'\n    RETURN NULL;\nEND\n';
        IF genome._ensure_trigger_function(
            v_function, v_body,
            'Internal, generated by genome._apply_tenant_keys: the row trigger '
            || 'zz_tenant_organization_cascade of ' || t.table_name || ', which fires when '
            || 'a row''s ' || t.tenant_column || ' changes and recomputes the '
            || 'tenant_organization_id of the rows that name it '
            || '(docs/security.md#row-level-security).'
        ) THEN
            v_work := v_work + 1;
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger AS tg
            WHERE tg.tgrelid = t.table_oid AND tg.tgname = 'zz_tenant_organization_cascade'
        ) THEN
            EXECUTE format(
                'CREATE TRIGGER zz_tenant_organization_cascade AFTER UPDATE ON %s FOR EACH ROW '
                'WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I) EXECUTE FUNCTION %3$s()',
                t.table_name, t.tenant_column, v_function
            );
            EXECUTE format(
                'COMMENT ON TRIGGER zz_tenant_organization_cascade ON %s IS %L', t.table_name,
                'Recomputes the children''s tenant_organization_id when this row''s '
                || 'organization changes (docs/security.md#row-level-security).'
            );
            v_work := v_work + 1;
        END IF;
    END LOOP;

    -- 3. A new column or a changed key set: (re)compute every table's column, parents
    -- first, set-based and with the triggers off (the app's own triggers must not take a
    -- backfill for an edit; the cascades are not needed in depth order).
    IF v_changed THEN
        v_replication := current_setting('session_replication_role');
        PERFORM set_config('session_replication_role', 'replica', true);
        FOR t IN
            SELECT k.* FROM genome._tenant_keys() AS k
            WHERE k.tenant_column = 'tenant_organization_id'
            ORDER BY k.depth, k.table_name
        LOOP
            EXECUTE format(
                'SELECT EXISTS (SELECT 1 FROM %s AS __row__ '
                'WHERE __row__.tenant_organization_id IS DISTINCT FROM %s)',
                t.table_name, t.org_expression
            ) INTO v_stale;
            CONTINUE WHEN NOT v_stale;
            -- An update checks the NOT VALID constraints too, which the app's older rows may
            -- break (a legacy ad_runs status: README, installing into the existing app's
            -- database): they are dropped for the backfill and put back as they were.
            SELECT coalesce(array_agg(con.oid ORDER BY con.conname), '{}') INTO v_checks
            FROM pg_constraint AS con
            WHERE con.conrelid = t.table_oid AND con.contype = 'c' AND NOT con.convalidated;
            FOR c IN
                SELECT con.conname, pg_get_constraintdef(con.oid) AS definition,
                       obj_description(con.oid, 'pg_constraint') AS note
                FROM pg_constraint AS con
                WHERE con.oid = ANY (v_checks)
                ORDER BY con.conname
            LOOP
                v_restore := v_restore || jsonb_build_object(
                    'name', c.conname, 'definition', c.definition, 'note', c.note
                );
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', t.table_name, c.conname);
            END LOOP;
            EXECUTE format(
                'UPDATE %s AS __row__ SET tenant_organization_id = %s '
                'WHERE __row__.tenant_organization_id IS DISTINCT FROM %2$s',
                t.table_name, t.org_expression
            );
            FOR c IN SELECT r.value FROM jsonb_array_elements(v_restore) AS r LOOP
                EXECUTE format(
                    'ALTER TABLE %s ADD CONSTRAINT %I %s', t.table_name,
                    c.value ->> 'name', c.value ->> 'definition'
                );
                IF c.value ->> 'note' IS NOT NULL THEN
                    EXECUTE format(
                        'COMMENT ON CONSTRAINT %I ON %s IS %L', c.value ->> 'name',
                        t.table_name, c.value ->> 'note'
                    );
                END IF;
            END LOOP;
            v_restore := '[]';
        END LOOP;
        PERFORM set_config('session_replication_role', v_replication, true);
    END IF;
    RETURN v_work;
END
$$;
COMMENT ON FUNCTION genome._apply_tenant_keys() IS
'Internal, idempotent (run by genome._apply_tenancy before the policies): gives every tenant table whose tenant key is not a single organization column (genome._tenant_keys) the column tenant_organization_id with an index, the generated SECURITY DEFINER trigger function genome._tenant_key_<schema>_<table> and its BEFORE INSERT OR UPDATE row trigger zz_tenant_organization that writes it; every parent table an AFTER UPDATE row trigger zz_tenant_organization_cascade (genome._tenant_cascade_<schema>_<table>) that recomputes the children when the parent''s organization changes; and, when a column was added or a trigger function changed, backfills every table parents first (triggers off). Returns how many objects it created or changed (docs/security.md#row-level-security).';
