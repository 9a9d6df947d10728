-- One calibration: a new, inactive version of a quality config from the overrides it governs.

CREATE OR REPLACE FUNCTION genome._calibrate_config(p_parent_id uuid, p_now timestamptz)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_parent genome.quality_scoring_config;
    v_min integer := genome._setting_num('calibration_min_overrides')::integer;
    v_n integer;
    v_incomplete integer;
    v_last timestamptz;
    v_result jsonb;
    v_version text;
    v_id uuid;
BEGIN
    PERFORM genome._require_not_null(p_parent_id, 'config_id');
    SELECT c.* INTO v_parent FROM genome.quality_scoring_config AS c WHERE c.id = p_parent_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown quality config %', p_parent_id USING ERRCODE = 'GN704';
    END IF;
    -- One calibration or activation per (organization, brand) at a time.
    PERFORM pg_advisory_xact_lock(hashtextextended(
        format('genome.quality_config:%s:%s', v_parent.organization_id, coalesce(v_parent.brand_id::text, '')), 0
    ));

    SELECT
        count(*) FILTER (WHERE o.complete),
        count(*) FILTER (WHERE NOT o.complete),
        max(o.created_at) FILTER (WHERE o.complete)
    INTO v_n, v_incomplete, v_last
    FROM genome._calibration_overrides(p_parent_id, p_now) AS o;
    IF v_n < v_min THEN
        RAISE EXCEPTION 'quality config % (%) has % usable override(s) since it was activated; calibration needs at least %',
            v_parent.version, p_parent_id, v_n, v_min
            USING ERRCODE = 'GN720',
                  DETAIL = format('%s more override(s) lack complete AI check scores', v_incomplete),
                  HINT = 'record more human decisions with genome.record_override, or lower settings calibration_min_overrides';
    END IF;

    WITH checks AS (
        SELECT
            w.key AS code,
            w.value::text::double precision AS weight,
            (v_parent.check_thresholds ->> w.key)::double precision AS threshold,
            (v_parent.hard_reject_thresholds ->> w.key)::double precision AS hard
        FROM jsonb_each(v_parent.check_weights) AS w
    ),

    cfg AS (
        SELECT
            array_agg(ch.code ORDER BY ch.code) AS codes,
            array_agg(ch.weight ORDER BY ch.code) AS weights,
            array_agg(coalesce(ch.threshold, 0) ORDER BY ch.code) AS thresholds,
            array_agg(ch.hard ORDER BY ch.code) AS hards
        FROM checks AS ch
    ),

    obs AS (
        SELECT
            array_agg(
                ARRAY(
                    SELECT (o.ai_check_scores ->> c.code)::double precision
                    FROM unnest(cfg.codes) WITH ORDINALITY AS c (code, ord)
                    ORDER BY c.ord
                )
                ORDER BY o.generated_ad_id
            ) AS scores,
            array_agg(o.ai_status = 'approved' ORDER BY o.generated_ad_id) AS ai_approved,
            array_agg(o.human_status = 'approved' ORDER BY o.generated_ad_id) AS human_approved
        FROM genome._calibration_overrides(p_parent_id, p_now) AS o
        CROSS JOIN cfg
        WHERE o.complete
    ),

    grids AS (
        SELECT
            (
                SELECT array_agg(x::double precision ORDER BY x)
                FROM genome._setting('calibration_check_grid') AS g (v),
                    generate_series((g.v ->> 'min')::numeric, (g.v ->> 'max')::numeric, (g.v ->> 'step')::numeric) AS x
            ) AS check_grid,
            (
                SELECT array_agg(x::double precision ORDER BY x)
                FROM genome._setting('calibration_pass_grid') AS g (v),
                    generate_series((g.v ->> 'min')::numeric, (g.v ->> 'max')::numeric, (g.v ->> 'step')::numeric) AS x
            ) AS pass_grid
    )

    SELECT genome._calibrate_thresholds(
        cfg.codes, obs.scores, obs.ai_approved, obs.human_approved, cfg.weights, cfg.thresholds,
        cfg.hards, v_parent.weighted_pass_threshold::double precision, grids.check_grid, grids.pass_grid,
        genome._setting_num('calibration_fn_weight'), genome._setting_num('calibration_max_sweeps')::integer
    )
    INTO v_result
    FROM cfg CROSS JOIN obs CROSS JOIN grids;

    SELECT format('v%s-calibrated', count(*) + 1)
    INTO v_version
    FROM genome.quality_scoring_config AS c
    WHERE c.organization_id = v_parent.organization_id AND c.brand_id IS NOT DISTINCT FROM v_parent.brand_id;

    INSERT INTO genome.quality_scoring_config (
        organization_id, brand_id, version, is_active, check_weights, check_thresholds,
        hard_reject_thresholds, weighted_pass_threshold, weighted_flag_threshold, borderline_low,
        borderline_high, calibrated_from_overrides, calibration_metrics, parent_config_id, created_at
    )
    VALUES (
        v_parent.organization_id, v_parent.brand_id, v_version, false, v_parent.check_weights,
        v_result -> 'check_thresholds', v_parent.hard_reject_thresholds,
        (v_result ->> 'weighted_pass_threshold')::numeric,
        least(v_parent.weighted_flag_threshold, (v_result ->> 'weighted_pass_threshold')::numeric),
        v_parent.borderline_low, v_parent.borderline_high, v_n,
        (v_result - 'check_thresholds' - 'weighted_pass_threshold') || jsonb_build_object(
            'n', v_n,
            'n_incomplete_excluded', v_incomplete,
            'min_overrides', v_min,
            'parent_version', v_parent.version,
            'window_since', v_parent.activated_at,
            'window_until', p_now,
            'last_override_at', v_last,
            'objective', 'FP + fn_weight * FN of the pass rule: no hard-reject failure, weighted score >= '
            || 'weighted_pass_threshold, every check >= its check_threshold'
        ),
        p_parent_id, p_now
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome._calibrate_config(uuid, timestamptz) IS
'Internal: calibrates quality config p_parent_id (docs/quality.md#calibration) from genome._calibration_overrides and writes a NEW, INACTIVE version of the same (organization, brand) named v<N>-calibrated: check thresholds and weighted pass threshold from genome._calibrate_thresholds (grids, FN weight and sweeps from settings), weights / hard-reject thresholds / borderline band copied, weighted_flag_threshold lowered to the new pass threshold if above it, calibrated_from_overrides = n, parent_config_id = p_parent_id, calibration_metrics = before / after / observed error rates, per-check FP and FN rates, n and the window. Serialised per (organization, brand) by an advisory lock. Returns the new config id. Errors: GN704 unknown config; GN720 fewer usable overrides than settings calibration_min_overrides (nothing written).';
