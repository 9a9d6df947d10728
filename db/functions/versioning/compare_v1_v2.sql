-- V1 (the existing app's ads) against V2 (ads planned by the genome), per brand.

-- One piece on purpose: one query whose named CTEs are the stages (each ad's cohort, matured
-- rewards, one observation per ad and metric, per-cohort means and intervals, V1/V2 pairs);
-- the result is the per-cohort rows and the difference rows of the same intervals, so as
-- separate functions the intervals would be computed twice or materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.compare_v1_v2(p_brand_id uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (
    cohort text,
    metric text,
    n integer,
    value double precision,
    ci_lower double precision,
    ci_upper double precision,
    interval_method text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_level double precision;
    v_z double precision;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._check_brand_product(p_brand_id, NULL);
    v_level := genome._ci_level();
    v_z := genome._normal_quantile(0.5 + v_level / 2);

    RETURN QUERY
    WITH ads AS (
        -- V2: planned by genome.plan_ads; V1: backfilled, untagged or imported ads.
        SELECT
            g.id,
            CASE WHEN g.element_tags_source = 'plan' AND NOT g.is_imported THEN 'V2' ELSE 'V1' END AS cohort,
            g.is_imported,
            g.final_status,
            coalesce(g.decided_at, g.created_at) AS decided_at
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        WHERE p.brand_id = p_brand_id
          AND (g.element_tags_source IS NULL OR g.element_tags_source IN ('plan', 'backfilled') OR g.is_imported)
    ),

    matured AS (
        SELECT
            a.cohort,
            rw.reward_score,
            rw.raw_ctr,
            rw.raw_roas
        FROM ads AS a
        INNER JOIN genome.creative_element_rewards AS rw ON rw.generated_ad_id = a.id
        WHERE rw.matured_at <= p_now
    ),

    obs AS (
        -- Approval is a review outcome: imported ads were never reviewed.
        SELECT
            a.cohort,
            'approval_rate' AS metric,
            (a.final_status = 'approved')::integer::double precision AS x
        FROM ads AS a
        WHERE NOT a.is_imported
          AND a.final_status IN ('approved', 'rejected', 'flagged')
          AND a.decided_at <= p_now
        UNION ALL
        SELECT m.cohort, 'mean_reward', m.reward_score FROM matured AS m
        UNION ALL
        SELECT m.cohort, 'ctr', m.raw_ctr FROM matured AS m WHERE m.raw_ctr IS NOT NULL
        UNION ALL
        SELECT m.cohort, 'roas', m.raw_roas FROM matured AS m WHERE m.raw_roas IS NOT NULL
    ),

    cells AS (
        SELECT
            c.cohort,
            mt.metric,
            mt.ord,
            count(o.x)::integer AS n,
            avg(o.x) AS mean,
            var_samp(o.x) AS var
        FROM (VALUES ('V1'), ('V2')) AS c (cohort)
        CROSS JOIN (VALUES ('approval_rate', 1), ('mean_reward', 2), ('ctr', 3), ('roas', 4)) AS mt (metric, ord)
        LEFT JOIN obs AS o ON o.cohort = c.cohort AND o.metric = mt.metric
        GROUP BY c.cohort, mt.metric, mt.ord
    ),

    intervals AS (
        SELECT
            ce.*,
            CASE
                WHEN ce.n = 0 THEN NULL
                WHEN ce.metric = 'approval_rate' THEN
                    (ce.mean + v_z ^ 2 / (2 * ce.n)) / (1 + v_z ^ 2 / ce.n)
                    - v_z * sqrt(ce.mean * (1 - ce.mean) / ce.n + v_z ^ 2 / (4.0 * ce.n ^ 2)) / (1 + v_z ^ 2 / ce.n)
                WHEN ce.n >= 2 THEN ce.mean - genome._t_quantile(0.5 + v_level / 2, ce.n - 1) * sqrt(ce.var / ce.n)
            END AS lo,
            CASE
                WHEN ce.n = 0 THEN NULL
                WHEN ce.metric = 'approval_rate' THEN
                    (ce.mean + v_z ^ 2 / (2 * ce.n)) / (1 + v_z ^ 2 / ce.n)
                    + v_z * sqrt(ce.mean * (1 - ce.mean) / ce.n + v_z ^ 2 / (4.0 * ce.n ^ 2)) / (1 + v_z ^ 2 / ce.n)
                WHEN ce.n >= 2 THEN ce.mean + genome._t_quantile(0.5 + v_level / 2, ce.n - 1) * sqrt(ce.var / ce.n)
            END AS hi
        FROM cells AS ce
    ),

    pairs AS (
        SELECT
            v1.metric,
            v1.ord,
            v1.n AS n1,
            v1.mean AS m1,
            v1.var AS var1,
            v1.lo AS lo1,
            v1.hi AS hi1,
            v2.n AS n2,
            v2.mean AS m2,
            v2.var AS var2,
            v2.lo AS lo2,
            v2.hi AS hi2,
            sqrt(v1.var / v1.n + v2.var / v2.n) AS se
        FROM intervals AS v1
        INNER JOIN intervals AS v2 ON v2.metric = v1.metric AND v2.cohort = 'V2'
        WHERE v1.cohort = 'V1'
    )

    SELECT
        i.cohort,
        i.metric,
        i.n,
        i.mean,
        i.lo,
        i.hi,
        CASE
            WHEN i.lo IS NULL THEN NULL
            WHEN i.metric = 'approval_rate' THEN 'wilson'
            ELSE 't'
        END
    FROM intervals AS i
    UNION ALL
    SELECT
        'V2-V1',
        pr.metric,
        pr.n1 + pr.n2,
        pr.m2 - pr.m1,
        CASE
            WHEN pr.n1 = 0 OR pr.n2 = 0 THEN NULL
            WHEN pr.metric = 'approval_rate' THEN
                (pr.m2 - pr.m1) - sqrt((pr.m2 - pr.lo2) ^ 2 + (pr.hi1 - pr.m1) ^ 2)
            WHEN pr.n1 < 2 OR pr.n2 < 2 THEN NULL
            WHEN pr.se = 0 THEN pr.m2 - pr.m1
            ELSE (pr.m2 - pr.m1) - genome._t_quantile(
                0.5 + v_level / 2,
                pr.se ^ 4 / ((pr.var1 / pr.n1) ^ 2 / (pr.n1 - 1) + (pr.var2 / pr.n2) ^ 2 / (pr.n2 - 1))
            ) * pr.se
        END,
        CASE
            WHEN pr.n1 = 0 OR pr.n2 = 0 THEN NULL
            WHEN pr.metric = 'approval_rate' THEN
                (pr.m2 - pr.m1) + sqrt((pr.hi2 - pr.m2) ^ 2 + (pr.m1 - pr.lo1) ^ 2)
            WHEN pr.n1 < 2 OR pr.n2 < 2 THEN NULL
            WHEN pr.se = 0 THEN pr.m2 - pr.m1
            ELSE (pr.m2 - pr.m1) + genome._t_quantile(
                0.5 + v_level / 2,
                pr.se ^ 4 / ((pr.var1 / pr.n1) ^ 2 / (pr.n1 - 1) + (pr.var2 / pr.n2) ^ 2 / (pr.n2 - 1))
            ) * pr.se
        END,
        CASE
            WHEN pr.n1 = 0 OR pr.n2 = 0 THEN NULL
            WHEN pr.metric = 'approval_rate' THEN 'newcombe'
            WHEN pr.n1 < 2 OR pr.n2 < 2 THEN NULL
            ELSE 'welch'
        END
    FROM pairs AS pr
    ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION genome.compare_v1_v2(uuid, timestamptz) IS
'V1 (element_tags_source backfilled or NULL, or imported) against V2 (planned: element_tags_source plan) ads of a brand at p_now: rows for cohorts V1, V2 and the difference V2-V1 of approval_rate (reviewed generated ads; Wilson interval, Newcombe hybrid score for the difference), mean_reward, ctr (raw matured CTR ratio per ad) and roas (t intervals, Welch for the difference), each with n, at monitoring_ci_level. Intervals are NULL where n is too small. GN005 NULL brand, GN001 unknown brand, GN004 bad p_now, GN090 bad monitoring_ci_level.';
