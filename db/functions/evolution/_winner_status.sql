-- docs/evolution.md#winners: which matured ads are winners, and how far their evolution has gone.

-- One piece on purpose: it is the one definition of a winner that find_winners, evolve_winners
-- and evolve all read, as one query whose named CTEs are the stages (settings; matured ads in
-- ratio units; the brand's p75 from the app's baselines or its own ads; criteria met and
-- shortfall; lineage and untested variables; then the verdict and eligibility).
CREATE OR REPLACE FUNCTION genome._winner_status(
    p_now timestamptz DEFAULT now(),
    p_generated_ad_id uuid DEFAULT NULL
)
RETURNS TABLE (
    generated_ad_id uuid,
    organization_id uuid,
    brand_id uuid,
    product_id uuid,
    reward_score double precision,
    ctr double precision,
    ctr_p75 double precision,
    roas double precision,
    roas_p75 double precision,
    matured_days integer,
    total_impressions bigint,
    criteria text [],
    is_winner boolean,
    not_winner_reason text,
    ancestor_ad_id uuid,
    iteration_round integer,
    iterations_used integer,
    last_child_at timestamptz,
    untested_variables text [],
    eligible boolean,
    ineligible_reason text
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH params AS (
        SELECT
            genome._setting_num('winner_min_matured_days') AS min_days,
            genome._setting_num('winner_min_impressions') AS min_impressions,
            genome._setting_num('winner_min_reward') AS min_reward,
            genome._setting_num('winner_p75_min_ads') AS p75_min_ads,
            genome._setting_num('max_iterations_per_winner') AS max_iterations,
            genome._setting_num('max_rounds_per_ancestor') AS max_rounds,
            genome._setting_num('evolution_cooldown_days') AS cooldown_days
    ),

    target AS (
        SELECT r.brand_id
        FROM genome.creative_element_rewards AS r
        WHERE p_generated_ad_id IS NULL OR r.generated_ad_id = p_generated_ad_id
        GROUP BY r.brand_id
    ),

    matured AS (
        -- Units normalised once: CTR and ROAS as ratios of the matured counts.
        SELECT
            r.*,
            r.total_clicks::double precision / nullif(r.total_impressions, 0) AS ctr_ratio,
            CASE WHEN r.total_spend > 0 AND r.total_purchase_value > 0
                THEN r.total_purchase_value / r.total_spend END AS roas_ratio,
            (r.last_date - r.first_date + 1)::integer AS days
        FROM genome.creative_element_rewards AS r
        INNER JOIN target AS t ON t.brand_id = r.brand_id
        WHERE r.matured_at <= p_now
    ),

    own_p75 AS (
        -- The brand's own distribution, once it has enough matured ads.
        SELECT
            m.brand_id,
            CASE WHEN count(m.ctr_ratio) >= prm.p75_min_ads
                THEN percentile_cont(0.75) WITHIN GROUP (ORDER BY m.ctr_ratio) END AS ctr_p75,
            CASE WHEN count(m.roas_ratio) >= prm.p75_min_ads
                THEN percentile_cont(0.75) WITHIN GROUP (ORDER BY m.roas_ratio) END AS roas_p75
        FROM matured AS m
        CROSS JOIN params AS prm
        GROUP BY m.brand_id, prm.p75_min_ads
    ),

    app_p75 AS (
        -- ad_intelligence_baselines (ctr columns are ratios): the brand's broadest cohort.
        SELECT DISTINCT ON (b.brand_id)
            b.brand_id,
            b.p75_ctr::double precision AS ctr_p75,
            b.p75_roas::double precision AS roas_p75
        FROM public.ad_intelligence_baselines AS b
        INNER JOIN target AS t ON t.brand_id = b.brand_id
        WHERE b.computed_at <= p_now
        ORDER BY
            b.brand_id,
            (b.awareness_level = 'all') DESC,
            (coalesce(b.campaign_objective, 'all') = 'all') DESC,
            b.computed_at DESC
    ),

    facts AS (
        SELECT
            m.generated_ad_id,
            m.organization_id,
            m.brand_id,
            m.product_id,
            m.reward_score,
            m.ctr_ratio,
            coalesce(nullif(a.ctr_p75, 0), o.ctr_p75) AS ctr_p75,
            m.roas_ratio,
            coalesce(nullif(a.roas_p75, 0), o.roas_p75) AS roas_p75,
            m.days,
            m.total_impressions,
            m.element_tags
        FROM matured AS m
        LEFT JOIN own_p75 AS o ON o.brand_id = m.brand_id
        LEFT JOIN app_p75 AS a ON a.brand_id = m.brand_id
        WHERE p_generated_ad_id IS NULL OR m.generated_ad_id = p_generated_ad_id
    ),

    judged AS (
        SELECT
            f.*,
            array_remove(ARRAY[
                CASE WHEN f.reward_score >= prm.min_reward THEN 'reward' END,
                CASE WHEN f.ctr_ratio >= f.ctr_p75 THEN 'ctr_p75' END,
                CASE WHEN f.roas_ratio >= f.roas_p75 THEN 'roas_p75' END
            ], NULL) AS met,
            concat_ws('; ',
                CASE WHEN f.days < prm.min_days
                    THEN format('%s of %s matured days', f.days, prm.min_days) END,
                CASE WHEN f.total_impressions < prm.min_impressions
                    THEN format('%s of %s impressions', f.total_impressions, prm.min_impressions) END
            ) AS shortfall
        FROM facts AS f
        CROSS JOIN params AS prm
    ),

    lineage AS (
        SELECT
            j.generated_ad_id,
            coalesce(up.ancestor_ad_id, j.generated_ad_id) AS ancestor_ad_id,
            coalesce(up.iteration_round, 0) AS iteration_round,
            coalesce(down.n, 0)::integer AS iterations_used,
            down.last_at,
            coalesce(down.tested, '{}') AS tested
        FROM judged AS j
        LEFT JOIN genome.ad_lineage AS up ON up.child_ad_id = j.generated_ad_id
        LEFT JOIN LATERAL (
            SELECT
                count(*) AS n,
                max(l.created_at) AS last_at,
                array_agg(l.variable_changed) FILTER (WHERE l.variable_changed IS NOT NULL) AS tested
            FROM genome.ad_lineage AS l
            WHERE l.parent_ad_id = j.generated_ad_id AND l.evolution_type = 'iteration'
        ) AS down ON true
    ),

    untested AS (
        SELECT
            j.generated_ad_id,
            coalesce(array_agg(d.dimension ORDER BY d.strategic_weight DESC, d.dimension)
                FILTER (WHERE d.dimension IS NOT NULL), '{}') AS variables
        FROM judged AS j
        INNER JOIN lineage AS l ON l.generated_ad_id = j.generated_ad_id
        LEFT JOIN genome.element_dimensions AS d
            ON d.kind = 'element' AND d.strategic_weight > 0
            AND j.element_tags ? d.dimension
            AND NOT d.dimension = ANY(l.tested)
        GROUP BY j.generated_ad_id
    )

    SELECT
        j.generated_ad_id,
        j.organization_id,
        j.brand_id,
        j.product_id,
        j.reward_score,
        j.ctr_ratio,
        j.ctr_p75,
        j.roas_ratio,
        j.roas_p75,
        j.days,
        j.total_impressions,
        j.met,
        w.is_winner,
        CASE WHEN NOT w.is_winner THEN concat_ws('; ',
            nullif(j.shortfall, ''),
            CASE WHEN cardinality(j.met) = 0 THEN format(
                'reward %s below %s and neither CTR nor ROAS at the brand''s p75',
                round(j.reward_score::numeric, 3), prm.min_reward
            ) END
        ) END,
        l.ancestor_ad_id,
        l.iteration_round,
        l.iterations_used,
        l.last_at,
        u.variables,
        w.is_winner AND r.reason IS NULL,
        r.reason
    FROM judged AS j
    CROSS JOIN params AS prm
    INNER JOIN lineage AS l ON l.generated_ad_id = j.generated_ad_id
    INNER JOIN untested AS u ON u.generated_ad_id = j.generated_ad_id
    CROSS JOIN LATERAL (
        SELECT j.shortfall = '' AND cardinality(j.met) > 0 AS is_winner
    ) AS w
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN l.iterations_used >= prm.max_iterations
                THEN format('%s of %s iterations used', l.iterations_used, prm.max_iterations)
            WHEN l.iteration_round + 1 > prm.max_rounds
                THEN format('round %s of ancestor would exceed %s', l.iteration_round + 1, prm.max_rounds)
            WHEN cardinality(u.variables) = 0 THEN 'no untested variable left'
            WHEN l.last_at > p_now - make_interval(days => prm.cooldown_days::integer)
                THEN format('last child %s, cooldown %s days', l.last_at, prm.cooldown_days)
        END AS reason
    ) AS r;
$$;
COMMENT ON FUNCTION genome._winner_status(timestamptz, uuid) IS
'Internal: for every ad with a matured reward (or one ad): the winner criteria (docs/evolution.md#winners) in ratio units - at least winner_min_matured_days days of data and winner_min_impressions impressions, and reward >= winner_min_reward or CTR (clicks / impressions) or ROAS (value / spend) at or above the brand''s p75 (ad_intelligence_baselines p75_ctr / p75_roas, ratios, else the brand''s own matured distribution once it has winner_p75_min_ads ads) - with the reason when not; and its evolution: ancestor, iteration round, iterations used, untested element variables, and whether evolve_winners may evolve it now (max_iterations_per_winner, max_rounds_per_ancestor, an untested variable, evolution_cooldown_days since its last child).';
