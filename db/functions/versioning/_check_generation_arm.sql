-- Generation A/B tests (docs/experiments.md#generation-ab-tests): what an arm may set.

CREATE OR REPLACE FUNCTION genome._check_generation_arm(p_brand_id uuid, p_arm text, p_config jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_problem text;
    v_templates jsonb := genome._setting('generation_prompt_templates');
    v_settings jsonb := p_config -> 'pipeline_settings';
BEGIN
    SELECT string_agg(x.problem, '; ' ORDER BY x.problem)
    INTO v_problem
    FROM (
        SELECT format('unknown key %s', k.key) AS problem
        FROM jsonb_object_keys(p_config) AS k (key)
        WHERE k.key NOT IN ('prompt_template_version', 'pipeline_version', 'review_rubric_version', 'pipeline_settings')
        UNION ALL
        SELECT format('%s must be a non-empty string', k.key)
        FROM jsonb_each(p_config) AS k
        WHERE k.key IN ('prompt_template_version', 'pipeline_version', 'review_rubric_version')
          AND (jsonb_typeof(k.value) <> 'string' OR btrim(k.value #>> '{}') = '')
        UNION ALL
        SELECT format('prompt_template_version %s is not one of %s', p_config ->> 'prompt_template_version', v_templates)
        WHERE jsonb_typeof(p_config -> 'prompt_template_version') = 'string'
          AND NOT coalesce(v_templates ? (p_config ->> 'prompt_template_version'), false)
        UNION ALL
        SELECT format('review_rubric_version %s is not a quality config of the brand''s organization',
                      p_config ->> 'review_rubric_version')
        WHERE jsonb_typeof(p_config -> 'review_rubric_version') = 'string'
          AND NOT EXISTS (
              SELECT 1
              FROM genome.quality_scoring_config AS c
              INNER JOIN public.brands AS b ON b.organization_id = c.organization_id
              WHERE b.id = p_brand_id
                AND (c.brand_id IS NULL OR c.brand_id = p_brand_id)
                AND c.version = p_config ->> 'review_rubric_version'
          )
        UNION ALL
        SELECT 'pipeline_settings must be an object'
        WHERE p_config ? 'pipeline_settings' AND jsonb_typeof(v_settings) <> 'object'
        UNION ALL
        SELECT format('unknown pipeline setting %s', s.key)
        FROM jsonb_object_keys(CASE WHEN jsonb_typeof(v_settings) = 'object' THEN v_settings END) AS s (key)
        WHERE s.key NOT IN ('exemplar_count', 'performance_context')
        UNION ALL
        SELECT 'pipeline_settings.exemplar_count must be an integer 0-8'
        WHERE jsonb_typeof(v_settings) = 'object' AND v_settings ? 'exemplar_count'
          AND NOT (
              jsonb_typeof(v_settings -> 'exemplar_count') = 'number'
              AND (v_settings ->> 'exemplar_count')::numeric IN (0, 1, 2, 3, 4, 5, 6, 7, 8)
          )
        UNION ALL
        SELECT 'pipeline_settings.performance_context must be true or false'
        WHERE jsonb_typeof(v_settings) = 'object' AND v_settings ? 'performance_context'
          AND jsonb_typeof(v_settings -> 'performance_context') <> 'boolean'
    ) AS x;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'arm config of % is not usable: %', p_arm, v_problem
            USING ERRCODE = 'GN816',
                  HINT = 'keys prompt_template_version (settings generation_prompt_templates), pipeline_version, review_rubric_version (a quality config version of the organization), pipeline_settings {exemplar_count 0-8, performance_context true|false}';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._check_generation_arm(uuid, text, jsonb) IS
'Internal (called by start_generation_experiment): checks one arm''s config (docs/experiments.md#generation-ab-tests). Allowed keys: prompt_template_version (one of settings generation_prompt_templates, the templates the agents know), pipeline_version (a label), review_rubric_version (a quality_scoring_config version of the brand''s organization, the brand''s own or organization-wide), pipeline_settings {exemplar_count integer 0-8, performance_context boolean}. GN816 names every problem found.';
