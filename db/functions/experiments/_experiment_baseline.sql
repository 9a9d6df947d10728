-- The brand's baseline rate of an experiment metric, as a RATIO (successes / trials).

CREATE OR REPLACE FUNCTION genome._experiment_baseline(
    p_brand_id uuid,
    p_metric text,
    p_now timestamptz DEFAULT now()
)
RETURNS TABLE (rate double precision, source text)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH metric AS (
        SELECT
            genome._setting('experiment_metrics') -> p_metric AS spec,
            genome._setting_num('experiment_baseline_min_impressions') AS min_impressions
    ),

    own AS (
        -- The brand's own matured rewards, pooled.
        SELECT CASE
            WHEN sum(r.total_impressions) < m.min_impressions THEN NULL
            WHEN m.spec ->> 'trials' = 'impressions'
                THEN sum(r.total_clicks)::double precision / nullif(sum(r.total_impressions), 0)
            WHEN m.spec ->> 'trials' = 'clicks'
                THEN sum(r.total_purchases)::double precision / nullif(sum(r.total_clicks), 0)
        END AS rate
        FROM genome.creative_element_rewards AS r
        CROSS JOIN metric AS m
        WHERE r.brand_id = p_brand_id AND r.matured_at <= p_now
        GROUP BY m.spec, m.min_impressions
    ),

    app AS (
        -- The app's baselines (ctr and conversion_rate columns are ratios): the brand's
        -- broadest cohort, newest first.
        SELECT CASE m.spec ->> 'trials'
            WHEN 'impressions' THEN b.median_ctr
            WHEN 'clicks' THEN b.median_conversion_rate
        END::double precision AS rate
        FROM public.ad_intelligence_baselines AS b
        CROSS JOIN metric AS m
        WHERE b.brand_id = p_brand_id
          AND b.computed_at <= p_now
          AND CASE m.spec ->> 'trials'
              WHEN 'impressions' THEN b.median_ctr
              WHEN 'clicks' THEN b.median_conversion_rate
          END > 0
        ORDER BY
            (b.awareness_level = 'all') DESC,
            (coalesce(b.campaign_objective, 'all') = 'all') DESC,
            b.computed_at DESC
        LIMIT 1
    )

    SELECT v.rate, v.source
    FROM (
        SELECT o.rate, 'rewards' AS source, 1 AS pref FROM own AS o WHERE o.rate > 0 AND o.rate < 1
        UNION ALL
        SELECT a.rate, 'baselines', 2 FROM app AS a WHERE a.rate < 1
        UNION ALL
        SELECT (m.spec ->> 'default_baseline')::double precision, 'default', 3 FROM metric AS m
    ) AS v
    ORDER BY v.pref
    LIMIT 1;
$$;
COMMENT ON FUNCTION genome._experiment_baseline(uuid, text, timestamptz) IS
'Internal: baseline rate (RATIO) of an experiment metric for a brand: its matured rewards pooled (clicks / impressions, or purchases / clicks) once they hold experiment_baseline_min_impressions impressions; else the median of the brand''s broadest ad_intelligence_baselines row; else the metric''s default_baseline in the experiment_metrics setting. source says which.';
