-- COLLECT: matured, normalized, objective-weighted rewards (docs/rewards.md).
-- collect_rewards runs the steps in order; each step is a function of its own named
-- _collect_rewards_<step>, which the security set-up treats like the job itself. The scoring
-- steps are queries over the previous step's rows: links -> ads -> baseline -> scores -> record.

CREATE OR REPLACE FUNCTION genome.collect_rewards(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_today date;
    v_horizon date;
    v_default_objective text;
BEGIN
    PERFORM genome._require_now(p_now);
    v_today := (p_now AT TIME ZONE 'UTC')::date;
    -- Ads whose data ended before this can no longer change: Meta restates at most
    -- revision_window_days back and the slowest component matures after that.
    v_horizon := v_today - (
        genome._setting_num('revision_window_days')::integer
        + (SELECT max(m.maturation_days) FROM genome.reward_metrics AS m) + 1
    );
    v_default_objective := genome._setting('default_reward_objective') #>> '{}';

    PERFORM genome._collect_rewards_backfill_tags();
    -- Scores every ad whose reward can still change (_collect_rewards_scores) and records
    -- the new and the revised ones.
    RETURN genome._collect_rewards_record(p_now, v_today, v_horizon, v_default_objective);
END
$$;
COMMENT ON FUNCTION genome.collect_rewards(timestamptz) IS
'Daily COLLECT: for every generated ad linked to Meta (meta_ad_mapping first, ad-name parsing as fallback), aggregates performance up to p_now, matures each component on its own window (genome.reward_metrics), normalizes it against the brand''s baseline cohort (p25 -> 0, p75 -> 1, clipped; else brand ''all'' row; else defaults), weights it by the mapped objective and leaves out (never imputes) what has not matured, redistributing its weight. Inserts or revises creative_element_rewards (superseded revisions go to creative_element_reward_history); a second call at the same p_now changes nothing. Also backfills V1 element_tags. Returns rows inserted or revised. GN004: NULL p_now. Steps: _collect_rewards_backfill_tags, then _collect_rewards_record over _collect_rewards_scores (_collect_rewards_links, _collect_rewards_ads, _collect_rewards_baseline).';


-- Step: which Meta ads report for which generated ad.
CREATE OR REPLACE FUNCTION genome._collect_rewards_links(p_today date)
RETURNS TABLE (generated_ad_id uuid, meta_ad_id text, path text, brand_id uuid)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    -- meta_ad_mapping is the attribution path (docs/rewards.md#linking-ads-to-meta) ...
    -- A link is a (brand, Meta ad) pair: only the ad's own brand's insights count for it
    -- (docs/security.md#tenant-data).
    -- The fallback's names are the distinct ones of the Meta ads no mapping row of the
    -- brand claims, found before any name is parsed: the pattern is matched once per such
    -- name, not once per performance row (22,000 rows, 160 ms a call, in a 90-day demo).
    -- MATERIALIZED keeps the pattern out of the scan.
    WITH unclaimed AS MATERIALIZED (
        SELECT DISTINCT p.brand_id, p.meta_ad_id, p.ad_name
        FROM public.meta_ads_performance AS p
        WHERE p.date <= p_today
          AND p.brand_id IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM public.meta_ad_mapping AS m2
              WHERE m2.meta_ad_id = p.meta_ad_id AND m2.brand_id = p.brand_id
          )
    )

    SELECT
        m.generated_ad_id,
        m.meta_ad_id,
        'mapping' AS path,
        m.brand_id
    FROM public.meta_ad_mapping AS m
    WHERE m.generated_ad_id IS NOT NULL AND m.brand_id IS NOT NULL
    UNION
    -- ... and a generated ad's id in the Meta ad name only the fallback, for Meta ads
    -- that no mapping row of the ad's brand claims.
    SELECT
        g.id AS generated_ad_id,
        n.meta_ad_id,
        'ad_name' AS path,
        n.brand_id
    FROM (
        SELECT DISTINCT
            u.brand_id,
            u.meta_ad_id,
            substring(
                u.ad_name
                FROM '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
            )::uuid AS ad_uuid
        FROM unclaimed AS u
        WHERE u.ad_name ~ '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
    ) AS n
    INNER JOIN public.generated_ads AS g ON g.id = n.ad_uuid
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = r.product_id AND pr.brand_id = n.brand_id
$$;
COMMENT ON FUNCTION genome._collect_rewards_links(date) IS
'Internal step of collect_rewards: the (generated ad, Meta ad, brand) links whose performance rows of that brand count for the generated ad, with their path: every meta_ad_mapping row with a generated ad (''mapping'', the brand its trigger set from the ad), and, for Meta ads no mapping row of the brand claims, a generated ad of the same brand whose id appears in the Meta ad name of one of the brand''s performance rows dated up to p_today (''ad_name''). Performance rows without a brand count for no ad.';


-- Step: each linked ad's totals and facts, for the ads whose reward can still change.
CREATE OR REPLACE FUNCTION genome._collect_rewards_ads(
    p_today date, p_horizon date, p_default_objective text
)
RETURNS TABLE (
    generated_ad_id uuid,
    path text,
    first_date date,
    last_date date,
    impressions bigint,
    clicks bigint,
    purchases bigint,
    spend double precision,
    purchase_value double precision,
    objective text,
    meta_campaign_id text,
    meta_ad_account_id text,
    element_tags jsonb,
    is_imported boolean,
    bandit_selected boolean,
    product_id uuid,
    brand_id uuid,
    organization_id uuid,
    raw_objective text,
    reward_objective text,
    objective_mapped boolean,
    age_days integer
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH links AS MATERIALIZED (
        SELECT * FROM genome._collect_rewards_links(p_today)
    ),

    open_links AS (
        -- The links of the ads whose reward can still change: an ad with a row of one of its
        -- links dated from p_horizon (one probe of the (brand_id, meta_ad_id, date) index),
        -- or with no reward yet. Only their rows are summed: an ad whose data ended before
        -- the horizon is never read again, so a day's work follows the ads still delivering,
        -- not the history. A window over the links, not a join of the links to a list of
        -- open ads: the function scan's estimate (1,000 rows) made that join a nested loop
        -- over two scans of the links, quadratic in the ads (100,000 ads: hours).
        SELECT f.*
        FROM (
            SELECT
                l.*,
                bool_or(
                    EXISTS (
                        SELECT 1 FROM public.meta_ads_performance AS p
                        WHERE p.brand_id = l.brand_id AND p.meta_ad_id = l.meta_ad_id
                          AND p.date >= p_horizon AND p.date <= p_today
                    )
                    OR NOT EXISTS (
                        SELECT 1 FROM genome.creative_element_rewards AS r
                        WHERE r.generated_ad_id = l.generated_ad_id
                    )
                ) OVER (PARTITION BY l.generated_ad_id) AS ad_open
            FROM links AS l
        ) AS f
        WHERE f.ad_open
    ),

    perf AS (
        SELECT
            l.generated_ad_id,
            CASE WHEN bool_or(l.path = 'mapping') THEN 'mapping' ELSE 'ad_name' END AS path,
            min(p.date) FILTER (WHERE p.impressions > 0) AS first_date,
            max(p.date) AS last_date,
            coalesce(sum(p.impressions), 0)::bigint AS impressions,
            coalesce(sum(p.link_clicks), 0)::bigint AS clicks,
            sum(p.purchases)::bigint AS purchases,
            coalesce(sum(p.spend), 0)::double precision AS spend,
            sum(p.purchase_value)::double precision AS purchase_value,
            (array_agg(p.campaign_objective ORDER BY p.date DESC)
                FILTER (WHERE p.campaign_objective IS NOT NULL))[1] AS objective,
            (array_agg(p.meta_campaign_id ORDER BY p.date DESC))[1] AS meta_campaign_id,
            (array_agg(p.meta_ad_account_id ORDER BY p.date DESC))[1] AS meta_ad_account_id
        FROM open_links AS l
        INNER JOIN public.meta_ads_performance AS p
            ON p.meta_ad_id = l.meta_ad_id AND p.brand_id = l.brand_id
        WHERE p.date <= p_today
        GROUP BY l.generated_ad_id
    )

    SELECT
        perf.*,
        g.element_tags,
        g.is_imported,
        coalesce(g.bandit_selected, false) AS bandit_selected,
        pr.id AS product_id,
        b.id AS brand_id,
        b.organization_id,
        coalesce(perf.objective, c.objective) AS raw_objective,
        coalesce(om.reward_objective, p_default_objective) AS reward_objective,
        om.reward_objective IS NOT NULL AS objective_mapped,
        p_today - perf.first_date AS age_days
    FROM perf
    INNER JOIN public.generated_ads AS g ON g.id = perf.generated_ad_id
    INNER JOIN public.ad_runs AS ar ON ar.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = ar.product_id
    INNER JOIN public.brands AS b ON b.id = pr.brand_id
    LEFT JOIN public.meta_campaigns AS c
        ON c.brand_id = b.id
        AND c.meta_campaign_id = perf.meta_campaign_id
        AND c.meta_ad_account_id = perf.meta_ad_account_id
    LEFT JOIN genome.objective_map AS om
        ON om.meta_objective = upper(coalesce(perf.objective, c.objective))
    WHERE perf.first_date IS NOT NULL
$$;
COMMENT ON FUNCTION genome._collect_rewards_ads(date, date, text) IS
'Internal step of collect_rewards: for every generated ad linked by _collect_rewards_links with an impression up to p_today, whose data reaches p_horizon or which has no reward yet: its attribution path (''mapping'' when any link is a mapping), first day with impressions, last day, totals (impressions, clicks, purchases, spend, purchase value), latest campaign objective, element tags, brand, product, organization, the reward objective its Meta objective maps to in genome.objective_map (else p_default_objective) and its age in days at p_today.';


-- Step: the baseline cohort an ad's metrics are normalized against.
CREATE OR REPLACE FUNCTION genome._collect_rewards_baseline(
    p_brand_id uuid, p_awareness_stage text, p_raw_objective text, p_reward_objective text
)
RETURNS SETOF public.ad_intelligence_baselines
LANGUAGE plpgsql
STABLE
-- At most one row (LIMIT 1): the estimate keeps the caller's plan, and its JIT cost, small.
ROWS 1
SET search_path = genome, public
AS $$
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
    -- (once per collected ad, about 700 a day in the demo).
    RETURN QUERY
    SELECT b.*
    FROM public.ad_intelligence_baselines AS b
    WHERE b.brand_id = p_brand_id
      AND b.awareness_level IN (coalesce(p_awareness_stage, 'all'), 'all')
      AND coalesce(b.campaign_objective, 'all') IN (
          coalesce(p_raw_objective, 'all'), p_reward_objective, 'all'
      )
    ORDER BY
        (b.awareness_level = p_awareness_stage) DESC NULLS LAST,
        (coalesce(b.campaign_objective, 'all') <> 'all') DESC,
        b.computed_at DESC
    LIMIT 1;
END
$$;
COMMENT ON FUNCTION genome._collect_rewards_baseline(uuid, text, text, text) IS
'Internal step of collect_rewards: the brand''s ad_intelligence_baselines row an ad is normalized against - the cohort of its awareness stage before the ''all'' row, a row of its (Meta or reward) objective before the ''all'' objective, the latest first - or no row (the metric defaults apply).';


-- Step: each ad's reward from its matured components.
-- One piece on purpose: one query whose named CTEs are the stages (baseline, components,
-- scored, rewards); the ads of _collect_rewards_ads feed three of them and are read once.
CREATE OR REPLACE FUNCTION genome._collect_rewards_scores(
    p_today date, p_horizon date, p_default_objective text
)
RETURNS TABLE (
    organization_id uuid,
    brand_id uuid,
    product_id uuid,
    generated_ad_id uuid,
    element_tags jsonb,
    reward_score double precision,
    reward_components jsonb,
    campaign_objective text,
    reward_objective text,
    first_date date,
    last_date date,
    impressions bigint,
    clicks bigint,
    purchases bigint,
    spend double precision,
    purchase_value double precision,
    raw_ctr double precision,
    raw_roas double precision,
    bandit_selected boolean,
    is_imported boolean,
    path text
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH ads AS (
        SELECT * FROM genome._collect_rewards_ads(p_today, p_horizon, p_default_objective)
    ),

    baseline AS (
        -- The brand's matching cohort (awareness stage, objective), else the brand's 'all'
        -- row, else the configured defaults (per metric, below).
        SELECT
            a.generated_ad_id,
            bl.*,
            CASE
                WHEN bl.id IS NULL THEN NULL
                WHEN bl.awareness_level = a.element_tags ->> 'awareness_stage'
                    OR bl.campaign_objective IN (a.raw_objective, a.reward_objective) THEN 'cohort'
                ELSE 'brand_all'
            END AS baseline_source
        FROM ads AS a
        LEFT JOIN LATERAL genome._collect_rewards_baseline(
            a.brand_id, a.element_tags ->> 'awareness_stage', a.raw_objective, a.reward_objective
        ) AS bl ON true
    ),

    components AS (
        SELECT
            a.generated_ad_id,
            w.metric,
            w.weight::double precision AS weight,
            m.higher_is_better,
            raw.value AS raw_value,
            CASE
                WHEN ranges.p25 IS NOT NULL AND ranges.p75 > ranges.p25 THEN bl.baseline_source
                ELSE 'default'
            END AS baseline_source,
            CASE WHEN ranges.p25 IS NOT NULL AND ranges.p75 > ranges.p25 THEN ranges.p25
                 ELSE m.default_p25::double precision END AS p25,
            CASE WHEN ranges.p25 IS NOT NULL AND ranges.p75 > ranges.p25 THEN ranges.p75
                 ELSE m.default_p75::double precision END AS p75,
            CASE
                WHEN a.age_days < m.maturation_days
                    THEN format('not matured: %s of %s days', a.age_days, m.maturation_days)
                WHEN a.impressions < m.min_impressions
                    THEN format('not matured: %s of %s impressions', a.impressions, m.min_impressions)
                WHEN raw.value IS NULL THEN 'missing'
            END AS left_out_reason
        FROM ads AS a
        INNER JOIN baseline AS bl ON bl.generated_ad_id = a.generated_ad_id
        INNER JOIN genome.reward_weights AS w ON w.reward_objective = a.reward_objective
        INNER JOIN genome.reward_metrics AS m ON m.metric = w.metric
        CROSS JOIN LATERAL (
            -- Units normalized once, here: every rate is a ratio of counts.
            SELECT CASE w.metric
                WHEN 'ctr' THEN a.clicks::double precision / nullif(a.impressions, 0)
                WHEN 'conversion_rate' THEN a.purchases::double precision / nullif(a.clicks, 0)
                WHEN 'roas' THEN a.purchase_value / nullif(a.spend, 0)
                WHEN 'cpm' THEN 1000.0 * a.spend / nullif(a.impressions, 0)
            END AS value
        ) AS raw
        CROSS JOIN LATERAL (
            SELECT
                (CASE w.metric
                    WHEN 'ctr' THEN bl.p25_ctr
                    WHEN 'conversion_rate' THEN bl.p25_conversion_rate
                    WHEN 'roas' THEN bl.p25_roas
                    WHEN 'cpm' THEN bl.p25_cpm
                END)::double precision AS p25,
                (CASE w.metric
                    WHEN 'ctr' THEN bl.p75_ctr
                    WHEN 'conversion_rate' THEN bl.p75_conversion_rate
                    WHEN 'roas' THEN bl.p75_roas
                    WHEN 'cpm' THEN bl.p75_cpm
                END)::double precision AS p75
        ) AS ranges
    ),

    scored AS (
        SELECT
            c.*,
            sum(c.weight) FILTER (WHERE c.left_out_reason IS NULL)
                OVER (PARTITION BY c.generated_ad_id) AS included_weight,
            greatest(0.0, least(1.0,
                CASE WHEN c.higher_is_better THEN (c.raw_value - c.p25) / (c.p75 - c.p25)
                     ELSE (c.p75 - c.raw_value) / (c.p75 - c.p25) END
            )) AS normalized
        FROM components AS c
    ),

    rewards AS (
        SELECT
            s.generated_ad_id,
            sum(s.weight * s.normalized) FILTER (WHERE s.left_out_reason IS NULL)
            / sum(s.weight) FILTER (WHERE s.left_out_reason IS NULL) AS reward_score,
            jsonb_build_object(
                'components', coalesce(jsonb_object_agg(s.metric, jsonb_build_object(
                    'raw', s.raw_value,
                    'normalized', s.normalized,
                    'weight', s.weight,
                    'effective_weight', s.weight / s.included_weight,
                    'baseline', s.baseline_source,
                    'p25', s.p25,
                    'p75', s.p75
                )) FILTER (WHERE s.left_out_reason IS NULL), '{}'::jsonb),
                'left_out', coalesce(
                    jsonb_object_agg(s.metric, s.left_out_reason)
                    FILTER (WHERE s.left_out_reason IS NOT NULL), '{}'::jsonb
                ),
                'redistributed_weight',
                coalesce(sum(s.weight) FILTER (WHERE s.left_out_reason IS NOT NULL), 0)
            ) AS reward_components
        FROM scored AS s
        GROUP BY s.generated_ad_id
        HAVING count(*) FILTER (WHERE s.left_out_reason IS NULL) > 0
    )

    SELECT
        a.organization_id,
        a.brand_id,
        a.product_id,
        a.generated_ad_id,
        a.element_tags,
        rw.reward_score,
        rw.reward_components || jsonb_build_object(
            'objective', a.reward_objective,
            'objective_source', CASE WHEN a.objective_mapped THEN 'mapped' ELSE 'default' END,
            'meta_objective', a.raw_objective,
            'age_days', a.age_days
        ) AS reward_components,
        a.raw_objective AS campaign_objective,
        a.reward_objective,
        a.first_date,
        a.last_date,
        a.impressions,
        a.clicks,
        coalesce(a.purchases, 0) AS purchases,
        a.spend,
        coalesce(a.purchase_value, 0) AS purchase_value,
        a.clicks::double precision / nullif(a.impressions, 0) AS raw_ctr,
        a.purchase_value / nullif(a.spend, 0) AS raw_roas,
        a.bandit_selected,
        a.is_imported,
        a.path
    FROM ads AS a
    INNER JOIN rewards AS rw ON rw.generated_ad_id = a.generated_ad_id
$$;
COMMENT ON FUNCTION genome._collect_rewards_scores(date, date, text) IS
'Internal step of collect_rewards: the reward of every ad of _collect_rewards_ads. Each metric weighted for its reward objective (genome.reward_weights) is computed from the totals (ctr, conversion_rate, roas, cpm), left out while not matured (maturation_days, min_impressions) or missing, and normalized against the ad''s baseline (_collect_rewards_baseline: p25 -> 0, p75 -> 1, clipped; the metric''s defaults when the row lacks a usable range); the reward is the weighted mean of the included components, their weight redistributed. reward_components records every component, what was left out and why, the objective and the age. Ads with no included component are left out.';


-- Step: insert new rewards and revise changed ones, keeping the superseded revision.
CREATE OR REPLACE FUNCTION genome._collect_rewards_record(
    p_now timestamptz, p_today date, p_horizon date, p_default_objective text
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_rows integer;
BEGIN
    WITH computed AS (
        SELECT * FROM genome._collect_rewards_scores(p_today, p_horizon, p_default_objective)
    ),

    changed AS (
        SELECT
            r.generated_ad_id,
            r.revision,
            r.reward_score,
            r.reward_components,
            r.total_impressions,
            r.revised_at
        FROM genome.creative_element_rewards AS r
        INNER JOIN computed AS c ON c.generated_ad_id = r.generated_ad_id
        WHERE (r.reward_score, r.reward_components, r.total_impressions, r.total_clicks, r.element_tags)
            IS DISTINCT FROM (c.reward_score, c.reward_components, c.impressions, c.clicks, c.element_tags)
    ),

    history AS (
        INSERT INTO genome.creative_element_reward_history (
            generated_ad_id, revision, reward_score, reward_components, total_impressions,
            valid_from, valid_to
        )
        SELECT
            ch.generated_ad_id,
            ch.revision,
            ch.reward_score,
            ch.reward_components,
            ch.total_impressions,
            ch.revised_at,
            p_now
        FROM changed AS ch
        ON CONFLICT (generated_ad_id, revision) DO NOTHING
    )

    INSERT INTO genome.creative_element_rewards AS r (
        organization_id, brand_id, product_id, generated_ad_id, element_tags, reward_score,
        reward_components, campaign_objective, reward_objective, matured_at, revised_at,
        first_date, last_date, total_impressions, total_clicks, total_purchases, total_spend,
        total_purchase_value, raw_ctr, raw_roas, bandit_selected, is_imported, attribution_path
    )
    SELECT
        c.organization_id,
        c.brand_id,
        c.product_id,
        c.generated_ad_id,
        c.element_tags,
        c.reward_score,
        c.reward_components,
        c.campaign_objective,
        c.reward_objective,
        p_now,
        p_now,
        c.first_date,
        c.last_date,
        c.impressions,
        c.clicks,
        c.purchases,
        c.spend,
        c.purchase_value,
        c.raw_ctr,
        c.raw_roas,
        c.bandit_selected,
        c.is_imported,
        c.path
    FROM computed AS c
    ON CONFLICT (generated_ad_id) DO UPDATE
    SET element_tags = excluded.element_tags,
        reward_score = excluded.reward_score,
        reward_components = excluded.reward_components,
        campaign_objective = excluded.campaign_objective,
        reward_objective = excluded.reward_objective,
        revised_at = excluded.revised_at,
        revision = r.revision + 1,
        last_date = excluded.last_date,
        first_date = excluded.first_date,
        total_impressions = excluded.total_impressions,
        total_clicks = excluded.total_clicks,
        total_purchases = excluded.total_purchases,
        total_spend = excluded.total_spend,
        total_purchase_value = excluded.total_purchase_value,
        raw_ctr = excluded.raw_ctr,
        raw_roas = excluded.raw_roas,
        attribution_path = excluded.attribution_path
    WHERE (r.reward_score, r.reward_components, r.total_impressions, r.total_clicks, r.element_tags)
        IS DISTINCT FROM (
            excluded.reward_score, excluded.reward_components, excluded.total_impressions,
            excluded.total_clicks, excluded.element_tags
        );
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._collect_rewards_record(timestamptz, date, date, text) IS
'Internal step of collect_rewards: writes the rewards of _collect_rewards_scores into genome.creative_element_rewards - new ads inserted matured and revised at p_now; an ad whose score, components, impressions, clicks or tags changed is revised (revision + 1, revised_at p_now) after its previous revision is copied to creative_element_reward_history (valid until p_now); unchanged rewards are not touched. Returns rows inserted or revised.';
