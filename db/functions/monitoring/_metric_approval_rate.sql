-- Monitoring (seed 14): approval_rate per brand.

CREATE OR REPLACE FUNCTION genome._metric_approval_rate(p_now timestamptz)
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
        WHERE th.metric = 'approval_rate'
    ),

    decided AS (
        -- Reviewed generated ads (the brand through ad_run -> product: fault 5).
        SELECT
            b.organization_id,
            b.id AS brand_id,
            g.final_status = 'approved' AS approved,
            -- An ad counts at its planning time: in production that is minutes from its
            -- decision, and under a simulator's virtual clock it is the only virtual time.
            g.created_at AS planned_at
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
        CROSS JOIN t
        WHERE g.final_status IN ('approved', 'rejected', 'flagged')
          AND NOT g.is_imported
          AND g.created_at <= p_now
          AND g.created_at > p_now - greatest(t.warning_window, t.critical_window)
    ),

    agg AS (
        SELECT
            d.organization_id,
            d.brand_id,
            count(*) FILTER (WHERE d.planned_at > p_now - t.warning_window) AS n_w,
            count(*) FILTER (WHERE d.planned_at > p_now - t.warning_window AND d.approved) AS a_w,
            count(*) FILTER (WHERE d.planned_at > p_now - t.critical_window) AS n_c,
            count(*) FILTER (WHERE d.planned_at > p_now - t.critical_window AND d.approved) AS a_c
        FROM decided AS d
        CROSS JOIN t
        GROUP BY d.organization_id, d.brand_id
    ),

    rates AS (
        SELECT
            a.*,
            a.a_w::double precision / a.n_w AS rate_w,
            CASE WHEN a.n_c >= genome._monitoring_min_ads() THEN a.a_c::double precision / a.n_c END AS rate_c
        FROM agg AS a
        WHERE a.n_w >= genome._monitoring_min_ads()
    )

    SELECT
        ra.organization_id,
        ra.brand_id,
        'approval_rate',
        ra.rate_w,
        CASE
            WHEN genome._breached(ra.rate_c, t.comparison, t.critical_threshold) THEN 'critical'
            WHEN genome._breached(ra.rate_w, t.comparison, t.warning_threshold) THEN 'warning'
        END,
        format(
            'Approval rate %s%% over %s (%s%% over %s); warning %s %s%%, critical %s %s%%',
            round(100 * ra.rate_w::numeric, 1), t.warning_window,
            coalesce(round(100 * ra.rate_c::numeric, 1)::text, 'n/a'), t.critical_window,
            t.comparison, round(100 * t.warning_threshold, 1),
            t.comparison, coalesce(round(100 * t.critical_threshold, 1)::text, 'n/a')
        ),
        jsonb_build_object(
            'warning_window_rate', ra.rate_w, 'warning_window_n', ra.n_w, 'warning_window_approved', ra.a_w,
            'critical_window_rate', ra.rate_c, 'critical_window_n', ra.n_c, 'critical_window_approved', ra.a_c,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        )
    FROM rates AS ra
    CROSS JOIN t;
$$;
COMMENT ON FUNCTION genome._metric_approval_rate(timestamptz) IS
'Internal: approval_rate per brand (reviewed = approved, rejected or flagged generated ads by the time they were planned (created_at); imported ads excluded): the rate over warning_days is the metric and is compared with warning_threshold, the rate over critical_days with critical_threshold (genome.alert_thresholds). Brands with fewer than monitoring_min_ads decisions in the warning window are not evaluated; a window with fewer is not compared. GN830 bad monitoring_min_ads.';
