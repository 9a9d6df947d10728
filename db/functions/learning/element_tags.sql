-- Element tags against the registry: one idea, one canonical value (free text would split an idea over spellings).

CREATE OR REPLACE FUNCTION genome._try_resolve_value(p_dimension text, p_value text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT coalesce(
        (SELECT v.value FROM genome.element_values AS v
         WHERE v.dimension = p_dimension AND v.value = p_value),
        (SELECT a.value FROM genome.element_value_aliases AS a
         WHERE a.dimension = p_dimension AND a.alias = p_value),
        (SELECT min(v.value) FROM genome.element_values AS v
         WHERE v.dimension = p_dimension AND lower(v.value) = lower(btrim(p_value))),
        (SELECT min(a.value) FROM genome.element_value_aliases AS a
         WHERE a.dimension = p_dimension AND lower(a.alias) = lower(btrim(p_value)))
    );
$$;
COMMENT ON FUNCTION genome._try_resolve_value(text, text) IS
'Internal: canonical registry value for a raw value (exact, alias, then case-insensitive), or NULL.';

CREATE OR REPLACE FUNCTION genome.normalize_tags(p_tags jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_bad record;
    v_out jsonb;
BEGIN
    IF p_tags IS NULL OR jsonb_typeof(p_tags) <> 'object' THEN
        RAISE EXCEPTION 'element_tags must be a JSON object, got %', coalesce(jsonb_typeof(p_tags), 'NULL')
            USING ERRCODE = 'GN100';
    END IF;
    SELECT t.key INTO v_bad
    FROM jsonb_each(p_tags) AS t
    LEFT JOIN genome.element_dimensions AS d ON d.dimension = t.key
    WHERE d.dimension IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown element dimension "%"', v_bad.key
            USING ERRCODE = 'GN100',
                  HINT = 'dimensions are the rows of genome.element_dimensions';
    END IF;
    SELECT t.key, t.value INTO v_bad
    FROM jsonb_each(p_tags) AS t
    WHERE jsonb_typeof(t.value) <> 'string'
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'element "%" must be a string, got %', v_bad.key, v_bad.value
            USING ERRCODE = 'GN101';
    END IF;
    SELECT t.key, t.value #>> '{}' AS raw INTO v_bad
    FROM jsonb_each(p_tags) AS t
    INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key
    WHERE d.kind <> 'identifier'
      AND genome._try_resolve_value(t.key, t.value #>> '{}') IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown value "%" for element dimension "%"', v_bad.raw, v_bad.key
            USING ERRCODE = 'GN101',
                  HINT = 'allowed values and aliases are in genome.element_values / genome.element_value_aliases';
    END IF;
    SELECT coalesce(jsonb_object_agg(
        t.key,
        CASE WHEN d.kind = 'identifier' THEN t.value
             ELSE to_jsonb(genome._try_resolve_value(t.key, t.value #>> '{}')) END
    ), '{}'::jsonb)
    INTO v_out
    FROM jsonb_each(p_tags) AS t
    INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION genome.normalize_tags(jsonb) IS
'Checks element_tags against the registry and returns them with canonical values (aliases resolved). GN100: not an object or unknown dimension; GN101: unknown value or non-string value.';
