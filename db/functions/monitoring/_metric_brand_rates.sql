-- Monitoring (docs/monitoring.md#health-metrics): the per-brand success rates, approval_rate, generation_success_rate
-- and winner_rate. Each is a share of binary outcomes over a warning and a critical window,
-- so they share one evaluation; only their events differ.

-- One piece on purpose: one query whose named CTEs are the stages (thresholds, each ad's
-- brand, matured rewards and the V1 reference medians, the three metrics' events, events in the windows,
-- counts, rates), then the severity and title; the three metrics share every stage but the
-- events, which is why they are one function and not three.
CREATE OR REPLACE FUNCTION genome._metric_brand_rates(p_now timestamptz)
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
-- The job reads it through monitoring_metrics, as genome_api under the tenant policies, whose
-- filters make the planner expect one row from each join: it then ran the events once per ad
-- in a nested loop (13.8 s a call at day 90 of the demo, 2,223 ads). Every stage reads all
-- the brands' ads in the windows, which hash joins do in one pass (0.1 s).
SET enable_nestloop = off
AS $$
    WITH t AS (
        SELECT
            th.metric,
            th.comparison,
            th.warning_threshold,
            th.critical_threshold,
            make_interval(days => th.warning_days) AS warning_window,
            make_interval(days => coalesce(th.critical_days, th.warning_days)) AS critical_window
        FROM genome.alert_thresholds AS th
        WHERE th.metric IN ('approval_rate', 'generation_success_rate', 'winner_rate')
    ),

    brand_ads AS (
        -- The brand of every generated ad, through ad_run -> product (ads carry no brand_id of their own).
        SELECT g.id AS ad_id, g.created_at, b.organization_id, b.id AS brand_id
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
    ),

    matured AS (
        SELECT
            ba.brand_id,
            r.reward_score,
            r.matured_at,
            (g.element_tags_source = 'plan' AND NOT g.is_imported) AS is_v2,
            g.id AS ad_id
        FROM genome.creative_element_rewards AS r
        INNER JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
        INNER JOIN brand_ads AS ba ON ba.ad_id = g.id
        WHERE r.matured_at <= p_now
    ),

    reference AS (
        -- winner_rate's reference (docs/monitoring.md#winner-rate): the median reward of the
        -- brand's matured V1 ads (backfilled, untagged or imported), never of the V2 ads being
        -- judged; a brand with fewer than monitoring_min_ads of them has no reference.
        SELECT
            m.brand_id,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY m.reward_score) AS median_reward,
            count(*) AS n
        FROM matured AS m
        WHERE NOT m.is_v2
        GROUP BY m.brand_id
        HAVING count(*) >= genome._monitoring_min_ads()
    ),

    events AS (
        -- approval_rate and generation_success_rate count an ad at its planning time: in
        -- production that is minutes from its decision, and under a simulator's virtual clock
        -- it is the only virtual time. winner_rate counts a V2 ad when its reward matured.
        SELECT
            'approval_rate' AS metric,
            g.id AS ad_id,
            g.final_status = 'approved' AS ok,
            g.created_at AS counted_at,
            '{}'::jsonb AS note
        FROM public.generated_ads AS g
        WHERE g.final_status IN ('approved', 'rejected', 'flagged') AND NOT g.is_imported
        UNION ALL
        -- Generate jobs that reached an end state: succeeded, or dead after max_attempts.
        SELECT
            'generation_success_rate',
            j.generated_ad_id,
            j.status = 'succeeded',
            g.created_at,
            '{}'::jsonb
        FROM genome.agent_jobs AS j
        INNER JOIN public.generated_ads AS g ON g.id = j.generated_ad_id
        WHERE j.kind = 'generate' AND j.status IN ('succeeded', 'dead')
        UNION ALL
        -- V2 ads (planned, not imported) whose matured reward beats the brand's V1 median.
        SELECT
            'winner_rate',
            m.ad_id,
            m.reward_score > rf.median_reward,
            m.matured_at,
            jsonb_build_object('reference_median_reward', rf.median_reward, 'reference_ads', rf.n)
        FROM matured AS m
        INNER JOIN reference AS rf ON rf.brand_id = m.brand_id
        WHERE m.is_v2
    ),

    dated AS (
        SELECT
            e.metric,
            ba.organization_id,
            ba.brand_id,
            e.ok,
            e.counted_at,
            e.note
        FROM events AS e
        INNER JOIN brand_ads AS ba ON ba.ad_id = e.ad_id
        INNER JOIN t ON t.metric = e.metric
        WHERE e.counted_at <= p_now
          AND e.counted_at > p_now - greatest(t.warning_window, t.critical_window)
    ),

    agg AS (
        SELECT
            d.metric,
            d.organization_id,
            d.brand_id,
            count(*) FILTER (WHERE d.counted_at > p_now - t.warning_window) AS n_w,
            count(*) FILTER (WHERE d.counted_at > p_now - t.warning_window AND d.ok) AS ok_w,
            count(*) FILTER (WHERE d.counted_at > p_now - t.critical_window) AS n_c,
            count(*) FILTER (WHERE d.counted_at > p_now - t.critical_window AND d.ok) AS ok_c,
            -- The same for every event of a brand and metric (the winner_rate reference).
            (array_agg(d.note))[1] AS note
        FROM dated AS d
        INNER JOIN t ON t.metric = d.metric
        GROUP BY d.metric, d.organization_id, d.brand_id
    ),

    rates AS (
        SELECT
            a.*,
            a.ok_w::double precision / a.n_w AS rate_w,
            CASE WHEN a.n_c >= genome._monitoring_min_ads() THEN a.ok_c::double precision / a.n_c END AS rate_c
        FROM agg AS a
        WHERE a.n_w >= genome._monitoring_min_ads()
    )

    SELECT
        ra.organization_id,
        ra.brand_id,
        ra.metric,
        ra.rate_w,
        CASE
            WHEN genome._breached(ra.rate_c, t.comparison, t.critical_threshold) THEN 'critical'
            WHEN genome._breached(ra.rate_w, t.comparison, t.warning_threshold) THEN 'warning'
        END,
        format(
            '%s %s%% over %s (%s of %s; %s%% over %s); warning %s %s%%, critical %s %s%%',
            CASE ra.metric
                WHEN 'approval_rate' THEN 'Approval rate'
                WHEN 'generation_success_rate' THEN 'Generation success rate'
                ELSE format(
                    'Winner rate (V2 ads above the median reward %s of the brand''s %s V1 ads)',
                    round((ra.note ->> 'reference_median_reward')::numeric, 4), ra.note ->> 'reference_ads'
                )
            END,
            round(100 * ra.rate_w::numeric, 1), t.warning_window, ra.ok_w, ra.n_w,
            coalesce(round(100 * ra.rate_c::numeric, 1)::text, 'n/a'), t.critical_window,
            t.comparison, round(100 * t.warning_threshold, 1),
            t.comparison, coalesce(round(100 * t.critical_threshold, 1)::text, 'n/a')
        ),
        jsonb_build_object(
            'warning_window_rate', ra.rate_w, 'warning_window_n', ra.n_w, 'warning_window_ok', ra.ok_w,
            'critical_window_rate', ra.rate_c, 'critical_window_n', ra.n_c, 'critical_window_ok', ra.ok_c,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        ) || ra.note
    FROM rates AS ra
    INNER JOIN t ON t.metric = ra.metric;
$$;
COMMENT ON FUNCTION genome._metric_brand_rates(timestamptz) IS
'Internal: approval_rate (share of reviewed ads — approved, rejected or flagged, imported ads excluded — that were approved) and generation_success_rate (share of finished generate jobs — succeeded or dead — that succeeded) per brand, each counted at the ad''s planning time (created_at); winner_rate (share of V2 ads — planned, not imported — whose reward matured in the window and beats the median reward of the brand''s matured V1 ads — backfilled, untagged or imported — details.reference_median_reward and reference_ads; the ads judged are never in their own reference, docs/monitoring.md#winner-rate; a brand with fewer than monitoring_min_ads V1 rewards has no winner_rate), counted at maturation. The rate over warning_days is the metric and is compared with warning_threshold, the rate over critical_days with critical_threshold (genome.alert_thresholds). Brands with fewer than monitoring_min_ads events in the warning window are not evaluated; a critical window with fewer is not compared. GN090 bad monitoring_min_ads.';
