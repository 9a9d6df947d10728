-- The brand's cost per 1000 impressions, for the experiment budget gate.

CREATE OR REPLACE FUNCTION genome._brand_cpm(p_brand_id uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (cpm double precision, source text)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH today AS (
        SELECT
            (p_now AT TIME ZONE 'UTC')::date AS d,
            genome._setting_num('experiment_cpm_lookback_days')::integer AS lookback
    ),

    performance AS (
        -- Recent insights of the brand: its own rows only (docs/security.md#tenant-data).
        SELECT 1000.0 * sum(p.spend)::double precision / nullif(sum(p.impressions), 0) AS cpm
        FROM public.meta_ads_performance AS p
        CROSS JOIN today AS t
        WHERE p.date > t.d - t.lookback
          AND p.date <= t.d
          AND p.brand_id = p_brand_id
    ),

    rewards AS (
        SELECT 1000.0 * sum(r.total_spend) / nullif(sum(r.total_impressions), 0) AS cpm
        FROM genome.creative_element_rewards AS r
        WHERE r.brand_id = p_brand_id AND r.matured_at <= p_now
    ),

    app AS (
        SELECT b.median_cpm::double precision AS cpm
        FROM public.ad_intelligence_baselines AS b
        WHERE b.brand_id = p_brand_id AND b.computed_at <= p_now AND b.median_cpm > 0
        ORDER BY
            (b.awareness_level = 'all') DESC,
            (coalesce(b.campaign_objective, 'all') = 'all') DESC,
            b.computed_at DESC
        LIMIT 1
    )

    SELECT v.cpm, v.source
    FROM (
        SELECT p.cpm, 'performance' AS source, 1 AS pref FROM performance AS p WHERE p.cpm > 0
        UNION ALL
        SELECT r.cpm, 'rewards', 2 FROM rewards AS r WHERE r.cpm > 0
        UNION ALL
        SELECT a.cpm, 'baselines', 3 FROM app AS a
        UNION ALL
        SELECT genome._setting_num('experiment_default_cpm'), 'default', 4
    ) AS v
    ORDER BY v.pref
    LIMIT 1;
$$;
COMMENT ON FUNCTION genome._brand_cpm(uuid, timestamptz) IS
'Internal: the brand''s CPM (spend per 1000 impressions) for the budget gate: its Meta insights of the last experiment_cpm_lookback_days days (the rows of the brand), else its matured rewards, else the median_cpm of its broadest ad_intelligence_baselines row, else experiment_default_cpm. source says which.';
