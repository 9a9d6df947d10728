-- Element tags against the registry: one idea, one canonical value (free text would split an idea over spellings).

CREATE OR REPLACE FUNCTION genome._try_resolve_value(p_dimension text, p_value text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
    -- (once per ad and dimension where tags are normalized).
    RETURN coalesce(
        (SELECT v.value FROM genome.element_values AS v
         WHERE v.dimension = p_dimension AND v.value = p_value),
        (SELECT a.value FROM genome.element_value_aliases AS a
         WHERE a.dimension = p_dimension AND a.alias = p_value),
        (SELECT min(v.value) FROM genome.element_values AS v
         WHERE v.dimension = p_dimension AND lower(v.value) = lower(btrim(p_value))),
        (SELECT min(a.value) FROM genome.element_value_aliases AS a
         WHERE a.dimension = p_dimension AND lower(a.alias) = lower(btrim(p_value)))
    );
END
$$;
COMMENT ON FUNCTION genome._try_resolve_value(text, text) IS
'Internal: canonical registry value for a raw value (exact, alias, then case-insensitive), or NULL.';

CREATE OR REPLACE FUNCTION genome.normalize_tags(p_tags jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
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

-- docs/learning.md#context-from-the-app: the audience context (awareness stage, audience
-- type) is not chosen by the genome; the app knows it from the ad set's targeting.
CREATE OR REPLACE FUNCTION genome._context_tags(p_context jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_tags jsonb;
    v_bad text;
BEGIN
    IF p_context IS NULL OR p_context = '{}'::jsonb THEN
        RETURN '{}'::jsonb;
    END IF;
    v_tags := genome.normalize_tags(p_context);
    SELECT t.key INTO v_bad
    FROM jsonb_each(v_tags) AS t
    INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key
    WHERE d.kind <> 'context'
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'context key "%" is not a context dimension', v_bad
            USING ERRCODE = 'GN100',
                  HINT = 'context dimensions are the rows of genome.element_dimensions with kind = ''context''';
    END IF;
    RETURN v_tags;
END
$$;
COMMENT ON FUNCTION genome._context_tags(jsonb) IS
'Internal (docs/learning.md#context-from-the-app): an ad''s audience context checked against the registry (dimensions of kind context only) with canonical values; NULL or {} gives {}. GN100 not an object, unknown or non-context dimension; GN101 unknown value.';

CREATE OR REPLACE FUNCTION genome.record_ad_context(p_generated_ad_id uuid, p_context jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_context jsonb;
    v_tags jsonb;
BEGIN
    PERFORM genome._require_ad(p_generated_ad_id);
    v_context := genome._context_tags(p_context);
    IF v_context = '{}'::jsonb THEN
        RAISE EXCEPTION 'context must name at least one context dimension' USING ERRCODE = 'GN100';
    END IF;
    -- The next collect_rewards sees the changed tags and revises the ad's reward: its
    -- baseline cohort and the strata attribution puts it in follow the context.
    UPDATE public.generated_ads AS g
    SET element_tags = coalesce(g.element_tags, '{}'::jsonb) || v_context
    WHERE g.id = p_generated_ad_id
    RETURNING g.element_tags INTO v_tags;
    RETURN v_tags;
END
$$;
COMMENT ON FUNCTION genome.record_ad_context(uuid, jsonb) IS
'Records an ad''s audience context when the app learns it (docs/learning.md#context-from-the-app), for instance from the Meta ad set''s targeting: p_context maps context dimensions (awareness_stage, audience_type) to registry values (aliases accepted), merged into the ad''s element_tags; the next collect_rewards revises its reward with the cohort baseline. Returns the ad''s tags. GN005 NULL ad, GN006 unknown ad (or another organization''s), GN100 not an object, empty, or a key that is not a context dimension, GN101 unknown value.';
