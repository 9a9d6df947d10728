-- Monitoring (seed 14): winner_rate per brand.

CREATE OR REPLACE FUNCTION genome._metric_winner_rate(p_now timestamptz)
RETURNS TABLE (
    organization_id uuid,
    brand_id uuid,
    metric text,
    metric_value double precision,
    severity text,
    title text,
    details jsonb
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH t AS (
        SELECT
            th.comparison,
            th.warning_threshold,
            th.critical_threshold,
            make_interval(days => th.warning_days) AS warning_window,
            make_interval(days => coalesce(th.critical_days, th.warning_days)) AS critical_window
        FROM genome.alert_thresholds AS th
        WHERE th.metric = 'winner_rate'
    ),

    rewards AS (
        -- Every matured reward of the brand (brand through ad_run -> product: fault 5).
        SELECT
            b.organization_id,
            b.id AS brand_id,
            r.reward_score,
            r.matured_at,
            (g.element_tags_source = 'plan' AND NOT g.is_imported) AS is_v2
        FROM genome.creative_element_rewards AS r
        INNER JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
        INNER JOIN public.ad_runs AS ar ON ar.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = ar.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
        WHERE r.matured_at <= p_now
    ),

    medians AS (
        SELECT rw.brand_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY rw.reward_score) AS median_reward
        FROM rewards AS rw
        GROUP BY rw.brand_id
    ),

    agg AS (
        SELECT
            rw.organization_id,
            rw.brand_id,
            m.median_reward,
            count(*) FILTER (WHERE rw.matured_at > p_now - t.warning_window) AS n_w,
            count(*) FILTER (
                WHERE rw.matured_at > p_now - t.warning_window AND rw.reward_score > m.median_reward
            ) AS above_w,
            count(*) FILTER (WHERE rw.matured_at > p_now - t.critical_window) AS n_c,
            count(*) FILTER (
                WHERE rw.matured_at > p_now - t.critical_window AND rw.reward_score > m.median_reward
            ) AS above_c
        FROM rewards AS rw
        INNER JOIN medians AS m ON m.brand_id = rw.brand_id
        CROSS JOIN t
        WHERE rw.is_v2
        GROUP BY rw.organization_id, rw.brand_id, m.median_reward
    ),

    rates AS (
        SELECT
            a.*,
            a.above_w::double precision / a.n_w AS rate_w,
            CASE WHEN a.n_c >= genome._monitoring_min_ads() THEN a.above_c::double precision / a.n_c END AS rate_c
        FROM agg AS a
        WHERE a.n_w >= genome._monitoring_min_ads()
    )

    SELECT
        ra.organization_id,
        ra.brand_id,
        'winner_rate',
        ra.rate_w,
        CASE
            WHEN genome._breached(ra.rate_c, t.comparison, t.critical_threshold) THEN 'critical'
            WHEN genome._breached(ra.rate_w, t.comparison, t.warning_threshold) THEN 'warning'
        END,
        format(
            'Winner rate %s%%: %s of %s V2 ads matured over %s beat the brand median reward %s; warning %s %s%%',
            round(100 * ra.rate_w::numeric, 1), ra.above_w, ra.n_w, t.warning_window,
            round(ra.median_reward::numeric, 4), t.comparison, round(100 * t.warning_threshold, 1)
        ),
        jsonb_build_object(
            'winner_rate', ra.rate_w, 'v2_ads', ra.n_w, 'above_median', ra.above_w,
            'brand_median_reward', ra.median_reward, 'critical_window_rate', ra.rate_c,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        )
    FROM rates AS ra
    CROSS JOIN t;
$$;
COMMENT ON FUNCTION genome._metric_winner_rate(timestamptz) IS
'Internal: winner_rate per brand: share of V2 ads (element_tags_source plan, not imported) whose reward matured in the last warning_days and is above the median of all the brand''s matured rewards, against genome.alert_thresholds (critical only if a critical threshold is configured; the seed has none). Brands with fewer than monitoring_min_ads such V2 ads are not evaluated. GN830 bad monitoring_min_ads.';
