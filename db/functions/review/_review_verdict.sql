CREATE OR REPLACE FUNCTION genome._review_verdict(p_check_scores jsonb, p_config_id uuid)
RETURNS TABLE (verdict text, weighted_score numeric, reason text)
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
    -- (each review); PL/pgSQL keeps the plan for the session.
    RETURN QUERY
    WITH cfg AS (
        SELECT c.*
        FROM genome.quality_scoring_config AS c
        WHERE c.id = p_config_id
    ),

    scored AS (
        SELECT
            w.key AS code,
            w.value::numeric AS weight,
            (p_check_scores ->> w.key)::numeric AS score,
            coalesce((cfg.check_thresholds ->> w.key)::numeric, cfg.borderline_high) AS threshold,
            (cfg.hard_reject_thresholds ->> w.key)::numeric AS hard_below,
            -- The borderline band sits just below each check's own threshold, so a
            -- calibrated (moved) threshold moves its band with it; with the default
            -- threshold 7.0 this is the rubric's [5.0, 7.0).
            cfg.borderline_low
            + coalesce((cfg.check_thresholds ->> w.key)::numeric, cfg.borderline_high)
            - cfg.borderline_high AS borderline_low,
            coalesce((cfg.check_thresholds ->> w.key)::numeric, cfg.borderline_high) AS borderline_high
        FROM cfg
        CROSS JOIN LATERAL jsonb_each_text(cfg.check_weights) AS w
    ),

    summary AS (
        SELECT
            round(sum(s.score * s.weight) / sum(s.weight), 3) AS weighted,
            string_agg(format('%s %s < %s', s.code, s.score, s.hard_below), ', ' ORDER BY s.code)
                FILTER (WHERE s.score < s.hard_below) AS hard_fail,
            string_agg(format('%s %s', s.code, s.score), ', ' ORDER BY s.code)
                FILTER (WHERE s.score >= s.borderline_low AND s.score < s.borderline_high) AS borderline,
            string_agg(format('%s %s < %s', s.code, s.score, s.threshold), ', ' ORDER BY s.code)
                FILTER (WHERE s.score < s.threshold) AS below
        FROM scored AS s
    )

    SELECT
        CASE
            WHEN sm.hard_fail IS NOT NULL THEN 'reject'
            WHEN sm.borderline IS NOT NULL
                OR (sm.weighted >= cfg.weighted_flag_threshold AND sm.weighted < cfg.weighted_pass_threshold)
                THEN 'borderline'
            WHEN sm.weighted >= cfg.weighted_pass_threshold AND sm.below IS NULL THEN 'approve'
            ELSE 'reject'
        END,
        sm.weighted,
        CASE
            WHEN sm.hard_fail IS NOT NULL THEN 'hard reject: ' || sm.hard_fail
            WHEN sm.borderline IS NOT NULL
                THEN 'borderline checks (within the band below their thresholds): ' || sm.borderline
            WHEN sm.weighted >= cfg.weighted_flag_threshold AND sm.weighted < cfg.weighted_pass_threshold
                THEN format('borderline weighted score %s in [%s, %s)', sm.weighted,
                            cfg.weighted_flag_threshold, cfg.weighted_pass_threshold)
            WHEN sm.weighted >= cfg.weighted_pass_threshold AND sm.below IS NULL
                THEN format('weighted score %s >= %s', sm.weighted, cfg.weighted_pass_threshold)
            WHEN sm.weighted < cfg.weighted_flag_threshold
                THEN format('weighted score %s < %s', sm.weighted, cfg.weighted_flag_threshold)
            ELSE 'checks below their thresholds: ' || sm.below
        END
    FROM summary AS sm
    CROSS JOIN cfg;
END
$$;
COMMENT ON FUNCTION genome._review_verdict(jsonb, uuid) IS
'Internal: one reviewer''s verdict on per-check scores under a quality config. In order: reject if any check is below its hard_reject_thresholds value (V9, C5 < 3.0 by default); borderline if any check is in the band of width borderline_high - borderline_low just below its own check_thresholds value ([5.0, 7.0) by default) or the weighted score (check_weights) is in [weighted_flag_threshold, weighted_pass_threshold); approve if the weighted score reaches weighted_pass_threshold and no check is below its check_thresholds value; reject otherwise. Returns the verdict, the weighted score (3 decimals) and the reason.';
