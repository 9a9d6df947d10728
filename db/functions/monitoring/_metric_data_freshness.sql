-- Monitoring (docs/monitoring.md#health-metrics): data_freshness per brand.

CREATE OR REPLACE FUNCTION genome._metric_data_freshness(p_now timestamptz)
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
        SELECT th.comparison, th.warning_threshold, th.critical_threshold
        FROM genome.alert_thresholds AS th
        WHERE th.metric = 'data_freshness'
    ),

    today AS (
        SELECT (p_now AT TIME ZONE 'UTC')::date AS d
    ),

    launched AS (
        -- A brand has launched ads when one of its generated ads is mapped to a Meta ad
        -- (brand through ad_run -> product: ads carry no brand_id of their own).
        SELECT
            b.organization_id,
            b.id AS brand_id,
            m.meta_ad_id,
            m.created_at
        FROM public.meta_ad_mapping AS m
        INNER JOIN public.generated_ads AS g ON g.id = m.generated_ad_id
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
    ),

    brands_live AS (
        SELECT l.organization_id, l.brand_id, min(l.created_at) AS first_launch
        FROM launched AS l
        GROUP BY l.organization_id, l.brand_id
        UNION
        SELECT b.organization_id, b.id, NULL::timestamptz
        FROM public.brands AS b
        WHERE EXISTS (SELECT 1 FROM public.meta_ads_performance AS mp WHERE mp.brand_id = b.id)
          AND NOT EXISTS (SELECT 1 FROM launched AS l WHERE l.brand_id = b.id)
    ),

    -- MATERIALIZED: its newest-row probe is read by three expressions below, once per brand.
    freshness AS MATERIALIZED (
        SELECT
            bl.organization_id,
            bl.brand_id,
            bl.first_launch,
            -- Every performance row of a launched ad carries its brand (the mapping's brand
            -- joins the insights, docs/security.md#tenant-data), so the brand's newest row is
            -- one probe of the (brand_id, date) index: joining the launched ads to their rows
            -- as well found no other row and cost seconds a brand in a 90-day demo.
            (SELECT mp.date FROM public.meta_ads_performance AS mp, today
             WHERE mp.brand_id = bl.brand_id AND mp.date <= today.d
             ORDER BY mp.date DESC LIMIT 1) AS last_date
        FROM brands_live AS bl
    ),

    days AS (
        -- No performance row at all yet: the age of the first launch is the staleness.
        SELECT
            fr.*,
            greatest(0, today.d - coalesce(fr.last_date, (fr.first_launch AT TIME ZONE 'UTC')::date))::double precision
                AS days_since
        FROM freshness AS fr
        CROSS JOIN today
        WHERE fr.last_date IS NOT NULL OR fr.first_launch IS NOT NULL
    )

    SELECT
        d.organization_id,
        d.brand_id,
        'data_freshness',
        d.days_since,
        CASE
            WHEN genome._breached(d.days_since, t.comparison, t.critical_threshold) THEN 'critical'
            WHEN genome._breached(d.days_since, t.comparison, t.warning_threshold) THEN 'warning'
        END,
        format(
            'Performance data %s days old (last row %s); warning %s %s days, critical %s %s days',
            d.days_since, coalesce(d.last_date::text, 'never'),
            t.comparison, t.warning_threshold, t.comparison, coalesce(t.critical_threshold::text, 'n/a')
        ),
        jsonb_build_object(
            'days_since_last_row', d.days_since, 'last_date', d.last_date, 'first_launch', d.first_launch,
            'warning_threshold', t.warning_threshold, 'critical_threshold', t.critical_threshold
        )
    FROM days AS d
    CROSS JOIN t;
$$;
COMMENT ON FUNCTION genome._metric_data_freshness(timestamptz) IS
'Internal: data_freshness per brand that has launched ads (a generated ad mapped to a Meta ad, or performance rows carrying the brand): whole days from the newest performance row dated on or before p_now (UTC) to p_now''s date, or from the first launch when no row exists yet, against genome.alert_thresholds.';
