-- Monitoring (seed 14): generation_success_rate per brand.

CREATE OR REPLACE FUNCTION genome._metric_generation_success_rate(p_now timestamptz)
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
        WHERE th.metric = 'generation_success_rate'
    ),

    finished AS (
        -- Generate jobs that reached an end state: succeeded, or dead after max_attempts.
        SELECT
            b.organization_id,
            b.id AS brand_id,
            j.status = 'succeeded' AS ok,
            -- At the ad's planning time (see _metric_approval_rate).
            g.created_at AS planned_at
        FROM genome.agent_jobs AS j
        INNER JOIN public.generated_ads AS g ON g.id = j.generated_ad_id
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
        CROSS JOIN t
        WHERE j.kind = 'generate'
          AND j.status IN ('succeeded', 'dead')
          AND g.created_at <= p_now
          AND g.created_at > p_now - greatest(t.warning_window, t.critical_window)
    ),

    agg AS (
        SELECT
            f.organization_id,
            f.brand_id,
            count(*) FILTER (WHERE f.planned_at > p_now - t.warning_window) AS n_w,
            count(*) FILTER (WHERE f.planned_at > p_now - t.warning_window AND f.ok) AS s_w,
            count(*) FILTER (WHERE f.planned_at > p_now - t.critical_window) AS n_c,
            count(*) FILTER (WHERE f.planned_at > p_now - t.critical_window AND f.ok) AS s_c
        FROM finished AS f
        CROSS JOIN t
        GROUP BY f.organization_id, f.brand_id
    ),

    rates AS (
        SELECT
            a.*,
            a.s_w::double precision / a.n_w AS rate_w,
            CASE WHEN a.n_c >= genome._monitoring_min_ads() THEN a.s_c::double precision / a.n_c END AS rate_c
        FROM agg AS a
        WHERE a.n_w >= genome._monitoring_min_ads()
    )

    SELECT
        ra.organization_id,
        ra.brand_id,
        'generation_success_rate',
        ra.rate_w,
        CASE
            WHEN genome._breached(ra.rate_c, t.comparison, t.critical_threshold) THEN 'critical'
            WHEN genome._breached(ra.rate_w, t.comparison, t.warning_threshold) THEN 'warning'
        END,
        format(
            'Generation success rate %s%% over %s (%s of %s generate jobs); warning %s %s%%, critical %s %s%%',
            round(100 * ra.rate_w::numeric, 1), t.warning_window, ra.s_w, ra.n_w,
            t.comparison, round(100 * t.warning_threshold, 1),
            t.comparison, coalesce(round(100 * t.critical_threshold, 1)::text, 'n/a')
        ),
        jsonb_build_object(
            'warning_window_rate', ra.rate_w, 'warning_window_n', ra.n_w, 'warning_window_succeeded', ra.s_w,
            'critical_window_rate', ra.rate_c, 'critical_window_n', ra.n_c, 'critical_window_succeeded', ra.s_c,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        )
    FROM rates AS ra
    CROSS JOIN t;
$$;
COMMENT ON FUNCTION genome._metric_generation_success_rate(timestamptz) IS
'Internal: generation_success_rate per brand: share of generate jobs finished (succeeded or dead) in the warning_days / critical_days windows that succeeded, against genome.alert_thresholds. Brands with fewer than monitoring_min_ads finished jobs in the warning window are not evaluated. GN830 bad monitoring_min_ads.';
