-- The one reader of genome.settings: every SQL function reads a setting through
-- genome._setting or a typed helper on top of it, so a missing key is always GN090.

CREATE OR REPLACE FUNCTION genome._setting(p_key text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v jsonb;
BEGIN
    SELECT s.value INTO v FROM genome.settings AS s WHERE s.key = p_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown genome setting %', p_key USING ERRCODE = 'GN090';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION genome._setting(text) IS
'Internal: the jsonb value of a genome.settings row; the one place SQL reads the settings table. GN090: unknown key.';

CREATE OR REPLACE FUNCTION genome._setting_choice(p_key text, p_choices text [])
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v text := genome._setting(p_key) #>> '{}';
    v_quoted text [] := ARRAY(SELECT '"' || c || '"' FROM unnest(p_choices) AS c);
BEGIN
    IF v IS NULL OR NOT v = ANY (p_choices) THEN
        RAISE EXCEPTION 'setting % must be %, got %', p_key,
            CASE WHEN cardinality(v_quoted) > 1
                THEN array_to_string(v_quoted[1:cardinality(v_quoted) - 1], ', ') || ' or ' || v_quoted[cardinality(v_quoted)]
                ELSE v_quoted[1]
            END,
            genome._setting(p_key)
            USING ERRCODE = 'GN090';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION genome._setting_choice(text, text []) IS
'Internal: a text setting that must be one of p_choices (a JSON string), returned without its quotes; GN090 naming the setting and its choices for any other value, and for an unknown key (genome._setting).';

-- The typed readers are PL/pgSQL, not SQL: a SQL function with a pinned search_path is
-- never inlined and is planned again on every call, and these run on hot paths.
CREATE OR REPLACE FUNCTION genome._setting_num(p_key text)
RETURNS double precision
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    RETURN (genome._setting(p_key))::text::double precision;
END
$$;
COMMENT ON FUNCTION genome._setting_num(text) IS
'Internal: a numeric genome setting as double precision (genome._setting; GN090 unknown key).';

-- The several-settings reader had one user, select_elements' exploration settings, which now
-- read their keys in one query of their own (genome._exploration_settings).
DROP FUNCTION IF EXISTS genome._setting_nums(text []);

CREATE OR REPLACE FUNCTION genome._setting_int(p_key text)
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    RETURN (genome._setting(p_key))::text::numeric::integer;
END
$$;
COMMENT ON FUNCTION genome._setting_int(text) IS
'Internal: a numeric genome setting rounded to an integer (genome._setting; GN090 unknown key).';

CREATE OR REPLACE FUNCTION genome._setting_text(p_key text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    RETURN genome._setting(p_key) #>> '{}';
END
$$;
COMMENT ON FUNCTION genome._setting_text(text) IS
'Internal: a scalar genome setting as text, a JSON string without its quotes (genome._setting; GN090 unknown key).';

CREATE OR REPLACE FUNCTION genome._setting_interval(p_key text, p_unit text)
RETURNS interval
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT genome._setting_num(p_key) * ('1 ' || p_unit)::interval;
$$;
COMMENT ON FUNCTION genome._setting_interval(text, text) IS
'Internal: a numeric genome setting counted in p_unit (''seconds'', ''days'' ...) as an interval, e.g. genome._setting_interval(''alert_expiry_days'', ''day'') (genome._setting; GN090 unknown key).';

CREATE OR REPLACE FUNCTION genome.agent_lease_seconds()
RETURNS double precision
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
    SELECT genome._setting_num('job_lease_seconds');
$$;
COMMENT ON FUNCTION genome.agent_lease_seconds() IS
'For the agents: the default lease of a claimed job in seconds (settings job_lease_seconds). A definer function, so the agent role reads this one setting without a grant on genome.settings. GN090 when the row is missing.';
