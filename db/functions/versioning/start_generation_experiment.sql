-- Generation A/B tests (docs/experiments.md#generation-ab-tests): start one per brand.

CREATE OR REPLACE FUNCTION genome.start_generation_experiment(
    p_brand_id uuid,
    p_name text,
    p_type text,
    p_control_config jsonb,
    p_variant_config jsonb,
    p_min_sample_size integer DEFAULT 20,
    p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_org uuid;
    v_id uuid;
    v_active uuid;
BEGIN
    PERFORM genome._require_now(p_now);
    v_org := genome._check_brand_product(p_brand_id, NULL);
    IF p_name IS NULL OR btrim(p_name) = '' THEN
        RAISE EXCEPTION 'experiment name must not be empty' USING ERRCODE = 'GN811';
    END IF;
    IF p_type IS NULL OR p_type NOT IN ('prompt_version', 'pipeline_config', 'review_rubric', 'element_strategy') THEN
        RAISE EXCEPTION 'unknown generation experiment type "%"', coalesce(p_type, 'NULL')
            USING ERRCODE = 'GN812',
                  HINT = 'one of prompt_version, pipeline_config, review_rubric, element_strategy';
    END IF;
    IF p_control_config IS NULL OR p_variant_config IS NULL
       OR jsonb_typeof(p_control_config) <> 'object' OR jsonb_typeof(p_variant_config) <> 'object'
       OR p_control_config = '{}'::jsonb OR p_variant_config = '{}'::jsonb THEN
        RAISE EXCEPTION 'control and variant configs must be non-empty JSON objects'
            USING ERRCODE = 'GN813';
    END IF;
    IF p_control_config = p_variant_config THEN
        RAISE EXCEPTION 'control and variant configs are identical: nothing to compare'
            USING ERRCODE = 'GN813';
    END IF;
    PERFORM genome._check_generation_arm(p_brand_id, 'control', p_control_config);
    PERFORM genome._check_generation_arm(p_brand_id, 'variant', p_variant_config);
    IF p_min_sample_size IS NULL OR p_min_sample_size < 1 THEN
        RAISE EXCEPTION 'min_sample_size must be >= 1, got %', coalesce(p_min_sample_size::text, 'NULL')
            USING ERRCODE = 'GN814';
    END IF;
    -- Serialise starts per brand, so "one active experiment per brand" is a clear error.
    PERFORM pg_advisory_xact_lock(hashtext('genome.generation_experiments'), hashtext(p_brand_id::text));
    SELECT e.id INTO v_active
    FROM genome.generation_experiments AS e
    WHERE e.brand_id = p_brand_id AND e.status = 'active';
    IF FOUND THEN
        RAISE EXCEPTION 'brand % already has an active generation experiment %', p_brand_id, v_active
            USING ERRCODE = 'GN815', HINT = 'wait for analyze_generation_experiments to complete it';
    END IF;

    INSERT INTO genome.generation_experiments (
        organization_id, brand_id, name, status, experiment_type, control_config, variant_config,
        split_ratio, min_sample_size, created_at
    )
    VALUES (
        v_org, p_brand_id, btrim(p_name), 'active', p_type, p_control_config, p_variant_config,
        0.50, p_min_sample_size, p_now
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome.start_generation_experiment(uuid, text, text, jsonb, jsonb, integer, timestamptz) IS
'Starts an active generation A/B test (docs/experiments.md#generation-ab-tests) for a brand: from now on its ad runs alternate control / variant (genome._generation_assignment), plan_ads records the arm''s config on the run, job_context hands it to the agents (prompt template, pipeline settings) and the review scores the arm''s ads under its review_rubric_version. Returns the experiment id. GN005 NULL brand, GN001 unknown brand, GN004 bad p_now, GN811 empty name, GN812 unknown type, GN813 configs not non-empty objects or identical, GN816 a key or value an arm may not set (genome._check_generation_arm), GN814 min_sample_size < 1, GN815 the brand already has an active experiment.';
