-- Monitoring (docs/monitoring.md#health-metrics): prediction_accuracy per brand, from genome.validate's weekly results.

CREATE OR REPLACE FUNCTION genome._metric_prediction_accuracy(p_now timestamptz)
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
        -- "for 2 weeks" = the latest ceil(days / 7) weekly results.
        SELECT
            th.comparison,
            th.warning_threshold,
            th.critical_threshold,
            greatest(1, ceil(th.warning_days / 7.0))::integer AS warning_weeks,
            greatest(1, ceil(coalesce(th.critical_days, th.warning_days) / 7.0))::integer AS critical_weeks,
            date_trunc('week', (p_now AT TIME ZONE 'UTC')::date)::date AS this_week
        FROM genome.alert_thresholds AS th
        WHERE th.metric = 'prediction_accuracy'
    ),

    current AS (
        -- Evaluated only when this week's validation has a sufficient result.
        SELECT v.*
        FROM genome.validation_results AS v
        CROSS JOIN t
        WHERE v.week_start = t.this_week AND v.sufficient
    ),

    streaks AS (
        SELECT
            c.organization_id,
            c.brand_id,
            c.spearman_rho,
            c.n,
            c.ci_lower,
            c.ci_upper,
            count(*) FILTER (
                WHERE w.week_start > t.this_week - 7 * t.warning_weeks
                  AND genome._breached(w.spearman_rho, t.comparison, t.warning_threshold)
            ) AS bad_warning_weeks,
            count(*) FILTER (
                WHERE w.week_start > t.this_week - 7 * t.critical_weeks
                  AND genome._breached(w.spearman_rho, t.comparison, t.critical_threshold)
            ) AS bad_critical_weeks
        FROM current AS c
        CROSS JOIN t
        INNER JOIN genome.validation_results AS w
            ON w.brand_id = c.brand_id
               AND w.sufficient
               AND w.week_start <= t.this_week
               AND w.week_start > t.this_week - 7 * greatest(t.warning_weeks, t.critical_weeks)
        GROUP BY c.organization_id, c.brand_id, c.spearman_rho, c.n, c.ci_lower, c.ci_upper
    )

    SELECT
        s.organization_id,
        s.brand_id,
        'prediction_accuracy',
        s.spearman_rho,
        CASE
            WHEN t.critical_threshold IS NOT NULL AND s.bad_critical_weeks = t.critical_weeks THEN 'critical'
            WHEN s.bad_warning_weeks = t.warning_weeks THEN 'warning'
        END,
        format(
            'Prediction accuracy (Spearman of pre_gen_score vs CTR) %s this week (n=%s); warning %s %s for %s weeks, critical %s %s for %s weeks',
            round(s.spearman_rho::numeric, 3), s.n, t.comparison, t.warning_threshold, t.warning_weeks,
            t.comparison, coalesce(t.critical_threshold::text, 'n/a'), t.critical_weeks
        ),
        jsonb_build_object(
            'spearman_rho', s.spearman_rho, 'n', s.n, 'ci_lower', s.ci_lower, 'ci_upper', s.ci_upper,
            'weeks_below_warning', s.bad_warning_weeks, 'warning_weeks', t.warning_weeks,
            'weeks_below_critical', s.bad_critical_weeks, 'critical_weeks', t.critical_weeks,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        )
    FROM streaks AS s
    CROSS JOIN t;
$$;
COMMENT ON FUNCTION genome._metric_prediction_accuracy(timestamptz) IS
'Internal: prediction_accuracy per brand from genome.validation_results: evaluated when the ISO week of p_now has a sufficient result; warning when each of the latest ceil(warning_days / 7) weeks has a sufficient result breaching warning_threshold, critical likewise with critical_days / critical_threshold (genome.alert_thresholds; a missing or insufficient week breaks the streak).';
