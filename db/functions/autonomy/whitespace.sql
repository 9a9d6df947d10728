-- Competitive whitespace (docs/evolution.md#whitespace): element combinations nobody in the brand's reach of
-- data has tried much, whose elements score well, ranked by the value of finding out.

-- One piece on purpose: one query whose named CTEs are the stages (the pooled brands'
-- tested combinations and the incumbent a test must beat; the competitors' combinations; the
-- candidate combinations of well-evidenced values and their independence prediction; the value
-- of information and the ranking). The candidates are filtered by both counts and valued in
-- one _beta_value_of_information call over arrays; as separate functions each stage would be
-- materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.whitespace(p_brand_id uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (
    rank integer,
    combo_key text,
    dimensions text [],
    element_values text [],
    predicted_mean double precision,
    ci_lower double precision,
    ci_upper double precision,
    prob_beats_incumbent double precision,
    evoi double precision,
    incumbent_mean double precision,
    pooled_tests integer,
    brand_tests integer,
    peer_brands integer,
    competitor_ads integer,
    evidence jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_brand public.brands;
    v_threshold double precision := genome._setting_num('success_threshold');
    v_max_tests integer := genome._setting_num('whitespace_max_tests')::integer;
    v_max_comp integer := genome._setting_num('whitespace_max_competitor_ads')::integer;
    v_kappa double precision := genome._setting_num('whitespace_prior_strength');
    v_size integer := genome._setting_num('whitespace_combo_size')::integer;
    v_top integer := genome._setting_num('whitespace_top_n')::integer;
    v_min_comp double precision := genome._setting_num('whitespace_min_component_rewards');
    v_level double precision := genome._setting_num('whitespace_ci_level');
    v_combo_min integer := genome._setting_num('combo_min_n')::integer;
    v_min_brands integer := genome._setting_int('prior_min_peer_brands');
    v_min_orgs integer := genome._setting_int('prior_min_peer_organizations');
    v_enough_peers boolean;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_brand(p_brand_id);
    SELECT b.* INTO v_brand FROM public.brands AS b WHERE b.id = p_brand_id;
    IF v_size NOT IN (2, 3) OR NOT (v_kappa > 0) OR NOT (v_level > 0 AND v_level < 1) OR v_top < 1 THEN
        RAISE EXCEPTION 'whitespace settings out of range (combo size 2 or 3, prior strength > 0, 0 < level < 1, top_n >= 1)'
            USING ERRCODE = 'GN090';
    END IF;

    -- docs/learning.md#private-priors: peers' rewards are pooled only when the category has
    -- at least prior_min_peer_brands opted-in brands with matured rewards, of at least
    -- prior_min_peer_organizations organizations other than the brand's.
    SELECT count(*) >= v_min_brands AND count(DISTINCT b.organization_id) >= v_min_orgs
    INTO v_enough_peers
    FROM public.brands AS b
    WHERE b.cross_brand_sharing AND b.category = v_brand.category
      AND b.organization_id <> v_brand.organization_id
      AND EXISTS (
          SELECT 1 FROM genome.creative_element_rewards AS cer
          WHERE cer.brand_id = b.id AND cer.matured_at <= p_now
      );

    RETURN QUERY
    WITH pool AS (
        -- The brand itself, and only if it opted in and the category has enough peers, the
        -- other opted-in brands of its category.
        SELECT b.id AS brand_id, b.id = p_brand_id AS own
        FROM public.brands AS b
        WHERE b.id = p_brand_id
           OR (v_brand.cross_brand_sharing AND v_brand.category IS NOT NULL AND v_enough_peers
               AND b.cross_brand_sharing AND b.category = v_brand.category)
    ),

    tags AS (
        SELECT
            cer.id AS reward_id,
            cer.brand_id,
            pool.own,
            (cer.reward_score >= v_threshold)::integer AS success,
            t.key AS dimension,
            t.value #>> '{}' AS value
        FROM genome.creative_element_rewards AS cer
        INNER JOIN pool ON pool.brand_id = cer.brand_id
        CROSS JOIN LATERAL jsonb_each(cer.element_tags) AS t
        INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
        WHERE cer.matured_at <= p_now
    ),

    tested AS (
        SELECT
            ARRAY[a.dimension, b.dimension] AS dims,
            ARRAY[a.value, b.value] AS vals,
            a.brand_id,
            a.own,
            a.success
        FROM tags AS a
        INNER JOIN tags AS b ON b.reward_id = a.reward_id AND b.dimension > a.dimension
        WHERE v_size = 2
        UNION ALL
        SELECT
            ARRAY[a.dimension, b.dimension, c.dimension],
            ARRAY[a.value, b.value, c.value],
            a.brand_id,
            a.own,
            a.success
        FROM tags AS a
        INNER JOIN tags AS b ON b.reward_id = a.reward_id AND b.dimension > a.dimension
        INNER JOIN tags AS c ON c.reward_id = a.reward_id AND c.dimension > b.dimension
        WHERE v_size = 3
    ),

    tested_counts AS (
        SELECT
            t.dims,
            t.vals,
            count(*)::integer AS n,
            sum(t.success)::integer AS s,
            (count(*) FILTER (WHERE t.own))::integer AS n_own,
            (count(DISTINCT t.brand_id) FILTER (WHERE NOT t.own))::integer AS peers
        FROM tested AS t
        GROUP BY t.dims, t.vals
    ),

    baseline AS (
        SELECT ((1.0 + coalesce(sum(x.success), 0)) / (2.0 + count(*)))::double precision AS m0
        FROM (SELECT DISTINCT tg.reward_id, tg.success FROM tags AS tg) AS x
    ),

    incumbent AS (
        -- The best combination of this size already tested enough: what a test must beat.
        SELECT coalesce(
            max((1.0 + tc.s) / (2.0 + tc.n)) FILTER (WHERE tc.n >= v_combo_min)::double precision,
            (SELECT baseline.m0 FROM baseline)
        ) AS c
        FROM tested_counts AS tc
    ),

    comp_tags AS (
        SELECT ca.id AS ad_id, t.key AS dimension, t.value #>> '{}' AS value
        FROM genome.competitor_ad_tags AS ca
        CROSS JOIN LATERAL jsonb_each(ca.element_tags) AS t
        WHERE ca.organization_id = v_brand.organization_id
          AND ca.category = v_brand.category
          AND ca.observed_at <= p_now
    ),

    comp_counts AS (
        SELECT x.dims, x.vals, count(*)::integer AS n
        FROM (
            SELECT ARRAY[a.dimension, b.dimension] AS dims, ARRAY[a.value, b.value] AS vals
            FROM comp_tags AS a
            INNER JOIN comp_tags AS b ON b.ad_id = a.ad_id AND b.dimension > a.dimension
            WHERE v_size = 2
            UNION ALL
            SELECT ARRAY[a.dimension, b.dimension, c.dimension], ARRAY[a.value, b.value, c.value]
            FROM comp_tags AS a
            INNER JOIN comp_tags AS b ON b.ad_id = a.ad_id AND b.dimension > a.dimension
            INNER JOIN comp_tags AS c ON c.ad_id = a.ad_id AND c.dimension > b.dimension
            WHERE v_size = 3
        ) AS x
        GROUP BY x.dims, x.vals
    ),

    components AS (
        -- Element values with enough evidence, scored by the brand's posterior (which holds
        -- the opted-in category prior).
        SELECT
            s.element_dimension AS dimension,
            s.element_value AS value,
            s.posterior_alpha / (s.posterior_alpha + s.posterior_beta) AS mean,
            s.n_rewards,
            coalesce(bp.peer_observations, 0) AS peer_n
        FROM genome.creative_element_scores AS s
        LEFT JOIN genome.brand_priors AS bp
            ON bp.brand_id = s.brand_id AND bp.element_dimension = s.element_dimension
            AND bp.element_value = s.element_value
        WHERE s.brand_id = p_brand_id AND s.product_id IS NULL
          AND s.n_rewards + coalesce(bp.peer_observations, 0) >= v_min_comp
    ),

    candidates AS (
        SELECT
            ARRAY[a.dimension, b.dimension] AS dims,
            ARRAY[a.value, b.value] AS vals,
            ARRAY[a.mean, b.mean] AS means,
            jsonb_build_array(to_jsonb(a), to_jsonb(b)) AS parts
        FROM components AS a
        INNER JOIN components AS b ON b.dimension > a.dimension
        WHERE v_size = 2
        UNION ALL
        SELECT
            ARRAY[a.dimension, b.dimension, c.dimension],
            ARRAY[a.value, b.value, c.value],
            ARRAY[a.mean, b.mean, c.mean],
            jsonb_build_array(to_jsonb(a), to_jsonb(b), to_jsonb(c))
        FROM components AS a
        INNER JOIN components AS b ON b.dimension > a.dimension
        INNER JOIN components AS c ON c.dimension > b.dimension
        WHERE v_size = 3
    ),

    predicted AS (
        -- Independence on the log-odds scale: each element moves the baseline by its own
        -- effect; the prediction is worth v_kappa pseudo-ads, updated by any tests there are.
        SELECT
            row_number() OVER (ORDER BY c.dims, c.vals)::integer AS i,
            c.*,
            coalesce(tc.n, 0) AS n,
            coalesce(tc.s, 0) AS s,
            coalesce(tc.n_own, 0) AS n_own,
            coalesce(tc.peers, 0) AS peers,
            coalesce(cc.n, 0) AS n_comp,
            1.0 / (1.0 + exp(-(
                ln(bl.m0 / (1.0 - bl.m0))
                + (SELECT sum(ln(m.mean / (1.0 - m.mean)) - ln(bl.m0 / (1.0 - bl.m0))) FROM unnest(c.means) AS m (mean))
            ))) AS p_ind,
            bl.m0,
            inc.c AS incumbent
        FROM candidates AS c
        CROSS JOIN baseline AS bl
        CROSS JOIN incumbent AS inc
        LEFT JOIN tested_counts AS tc ON tc.dims = c.dims AND tc.vals = c.vals
        LEFT JOIN comp_counts AS cc ON cc.dims = c.dims AND cc.vals = c.vals
        WHERE coalesce(tc.n, 0) <= v_max_tests AND coalesce(cc.n, 0) <= v_max_comp
    ),

    arrays AS (
        SELECT
            array_agg(v_kappa * p.p_ind + p.s ORDER BY p.i) AS a,
            array_agg(v_kappa * (1.0 - p.p_ind) + (p.n - p.s) ORDER BY p.i) AS b,
            array_agg(p.incumbent ORDER BY p.i) AS c
        FROM predicted AS p
    ),

    valued AS (
        SELECT v.*
        FROM arrays AS a
        CROSS JOIN LATERAL genome._beta_value_of_information(a.a, a.b, a.c, v_level) AS v
        WHERE a.a IS NOT NULL
    ),

    ranked AS (
        SELECT
            row_number() OVER (
                ORDER BY v.expected_improvement DESC, (v_kappa * p.p_ind + p.s) / (v_kappa + p.n) DESC, p.dims, p.vals
            )::integer AS r,
            p.*,
            v.expected_improvement,
            v.prob_better,
            v.ci_lower AS lo,
            v.ci_upper AS hi
        FROM predicted AS p
        INNER JOIN valued AS v ON v.idx = p.i
    )

    SELECT
        r.r,
        array_to_string(ARRAY(SELECT x.d || '=' || x.v FROM unnest(r.dims, r.vals) AS x (d, v)), '|'),
        r.dims,
        r.vals,
        (v_kappa * r.p_ind + r.s) / (v_kappa + r.n),
        r.lo,
        r.hi,
        r.prob_better,
        r.expected_improvement,
        r.incumbent,
        r.n,
        r.n_own,
        r.peers,
        r.n_comp,
        jsonb_build_object(
            'components', r.parts,
            'baseline_rate', r.m0,
            'independence_prediction', r.p_ind,
            'prior_strength', v_kappa,
            'pooled_successes', r.s,
            'pooled_tests', r.n,
            'pooled_from', CASE WHEN v_brand.cross_brand_sharing AND v_brand.category IS NOT NULL
                THEN 'brand and opted-in category peers (aggregates)' ELSE 'brand only' END
        )
    FROM ranked AS r
    WHERE r.r <= v_top
    ORDER BY r.r;
END
$$;
COMMENT ON FUNCTION genome.whitespace(uuid, timestamptz) IS
'Competitive whitespace for a brand at p_now: combinations of whitespace_combo_size element values (each value with at least whitespace_min_component_rewards of evidence: the brand''s rewards plus its category prior''s peer observations) tested at most whitespace_max_tests times in the pooled matured rewards (the brand''s own, plus, only when the brand opted in and its category has at least prior_min_peer_brands opted-in brands with matured rewards of at least prior_min_peer_organizations other organizations, those of the other opted-in brands of its category; docs/learning.md#private-priors) and used at most whitespace_max_competitor_ads times in the organization''s genome.competitor_ad_tags for the category. Each gets a predicted success rate: independence of the elements on the log-odds scale around the pooled baseline rate, as a Beta worth whitespace_prior_strength pseudo-ads updated with any pooled tests; ranked by expected value of information, E[max(rate - incumbent, 0)], the incumbent being the best combination of that size tested at least combo_min_n times (else the baseline). Returns the top whitespace_top_n with the interval at whitespace_ci_level, P(beats incumbent), counts and the evidence (component scores, baseline). GN004 bad p_now, GN005 NULL brand, GN001 unknown brand, GN090 bad whitespace settings.';
