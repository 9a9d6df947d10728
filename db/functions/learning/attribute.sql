-- Stratified attribution (docs/attribution.md): per value of one dimension, the Mantel-Haenszel
-- effect on click odds within strata of context, spend and week, instead of a naive
-- "CTR by tag" that Simpson's paradox can turn around. Its interval and 'finding' count the
-- ads, not the impressions, as the units that vary (docs/attribution.md#ads-as-the-units),
-- and each ad's impressions count as their fresh equivalent where the joint learner fitted
-- its fatigue (docs/attribution.md#fatigue).

-- The earlier return type without the ad-level columns (CREATE OR REPLACE cannot change it).
DROP FUNCTION IF EXISTS genome.attribute(uuid, text, timestamptz);

-- One piece on purpose: the Mantel-Haenszel estimate is one query whose named CTEs are its
-- stages (rows, strata, 2x2 tables, per-value pooling, statistics, verdicts) over one brand's
-- rewards; as separate functions each stage would be materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.attribute(
    p_brand_id uuid,
    p_dimension text,
    p_now timestamptz DEFAULT now()
)
RETURNS TABLE (
    dimension text,
    value text,
    n_ads bigint,
    impressions bigint,
    clicks bigint,
    ctr double precision,
    fatigue_adjusted_ctr double precision,
    crude_odds_ratio double precision,
    mh_odds_ratio double precision,
    mh_log_or_se double precision,
    mh_ci_lower double precision,
    mh_ci_upper double precision,
    ad_ctr_cv double precision,
    ad_spread_df integer,
    mh_log_or_se_ad_level double precision,
    mh_ci_lower_ad_level double precision,
    mh_ci_upper_ad_level double precision,
    p_value_ad_level double precision,
    design_effect double precision,
    ad_mean_log_or double precision,
    ad_mean_p_value double precision,
    cmh_chi2 double precision,
    cmh_p_value double precision,
    breslow_day_chi2 double precision,
    breslow_day_df integer,
    breslow_day_p_value double precision,
    n_strata integer,
    informative_strata integer,
    agreeing_strata integer,
    disagreeing_strata integer,
    reversal boolean,
    finding text,
    finding_reason text,
    label text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
-- A whole-brand aggregation: JIT compilation costs more than it saves here.
SET jit = off
-- The first stage's hash aggregate: the planner guesses up to a tenth of the brand's rows as
-- groups (there are hundreds) and, with the default 4MB, sorts 1M rows instead of hashing them
-- (3x slower, docs/attribution.md#cost); the hash table spills to disk past this anyway.
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
    v_edges double precision [];
    v_min_strata integer;
    v_context text [];
BEGIN
    PERFORM genome._require_brand(p_brand_id);
    PERFORM genome._require_not_null(p_dimension, 'dimension');
    PERFORM genome._require_now(p_now);
    SELECT ed.kind INTO v_kind
    FROM genome.element_dimensions AS ed
    WHERE ed.dimension = p_dimension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'genome.attribute: dimension % is not in genome.element_dimensions', p_dimension
            USING ERRCODE = 'GN302';
    END IF;
    IF v_kind NOT IN ('element', 'context') THEN
        RAISE EXCEPTION 'genome.attribute: dimension % is of kind %, not element or context',
            p_dimension, v_kind
            USING ERRCODE = 'GN303';
    END IF;

    SELECT (v.value #>> '{}')::integer INTO v_min_strata
    FROM genome._setting('attribution_min_strata') AS v (value)
    WHERE jsonb_typeof(v.value) = 'number';
    SELECT array_agg(e.edge::double precision ORDER BY e.edge::double precision) INTO v_edges
    FROM genome._setting('attribution_spend_buckets') AS v (value)
    CROSS JOIN LATERAL jsonb_array_elements_text(v.value) AS e (edge)
    WHERE jsonb_typeof(v.value) = 'array';
    IF v_min_strata IS NULL OR v_min_strata < 1 OR v_edges IS NULL THEN
        RAISE EXCEPTION 'genome.attribute: settings attribution_min_strata (integer >= 1) and '
            'attribution_spend_buckets (array of numbers) are required'
            USING ERRCODE = 'GN090';
    END IF;

    -- Strata: every context dimension except the one analysed (analysing awareness_stage
    -- within awareness_stage strata would leave no comparison), spend bucket, ISO week.
    v_context := ARRAY(
        SELECT ed.dimension
        FROM genome.element_dimensions AS ed
        WHERE ed.kind = 'context' AND ed.dimension <> p_dimension
        ORDER BY ed.dimension
    );

    RETURN QUERY
    WITH raw AS (
        -- Stage 1, over every reward row: only cheap per-row work, grouped down to a few
        -- hundred rows. Measured at 1M rows (docs/attribution.md#cost): the scan, deforming
        -- and the three jsonb look-ups are about a third of the time, the hash grouping and the
        -- per-ad sums the rest. So: the analysed key and up to four context keys extracted as
        -- text and grouped as they are (NULL, '' and 'unknown' merge in stage 2; more context
        -- dimensions go through the slower general column `ctx_more`), spend bucket and
        -- first_date; the per-ad sums as two regr_* transitions, whose aggregates over the same
        -- inputs share one state: (clicks, impressions) gives the ads, the click and impression
        -- sums and the sum of squared impressions; (empirical logit, its binomial variance),
        -- NULL for an ad without impressions and so skipped, gives the ads with impressions and
        -- the sums of logits, squared logits and variances. An ad's exposure is its impressions
        -- times its frequency factor (docs/attribution.md#fatigue; 1 without one); the
        -- delivered impressions are summed apart for the crude, as-delivered figures.
        SELECT
            cer.element_tags ->> p_dimension AS val,
            cer.element_tags ->> v_context[1] AS ctx1,
            cer.element_tags ->> v_context[2] AS ctx2,
            cer.element_tags ->> v_context[3] AS ctx3,
            cer.element_tags ->> v_context[4] AS ctx4,
            CASE
                WHEN cardinality(v_context) > 4 THEN array_to_string(
                    ARRAY(
                        SELECT coalesce(cer.element_tags ->> c.dim, '')
                        FROM unnest(v_context[5:]) AS c (dim)
                    ),
                    chr(31)
                )
            END AS ctx_more,
            width_bucket(cer.total_spend, v_edges) AS bucket,
            cer.first_date,
            sum(cer.total_impressions::double precision) AS delivered,
            regr_count(cer.total_clicks::double precision, h.n) AS n_ads,
            regr_avgy(cer.total_clicks::double precision, h.n) AS mean_k,
            regr_avgx(cer.total_clicks::double precision, h.n) AS mean_n,
            regr_sxx(cer.total_clicks::double precision, h.n) AS sxx_n,
            -- Ads with impressions: the ones whose CTR (and its spread) is defined.
            regr_count(h.logit, 1 / h.kh + 1 / h.mh) AS ns,
            regr_avgy(h.logit, 1 / h.kh + 1 / h.mh) AS mean_logit,
            regr_syy(h.logit, 1 / h.kh + 1 / h.mh) AS syy_logit,
            regr_avgx(h.logit, 1 / h.kh + 1 / h.mh) AS mean_v
        FROM genome.creative_element_rewards AS cer
        LEFT JOIN genome._frequency_exposure_factors(p_brand_id) AS fq ON fq.generated_ad_id = cer.generated_ad_id
        CROSS JOIN LATERAL genome._ad_empirical_logit(
            cer.total_impressions * coalesce(fq.exposure_factor, 1.0), cer.total_clicks
        ) AS h
        WHERE cer.brand_id = p_brand_id AND cer.matured_at <= p_now
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ),

    r AS (
        -- Stage 2, on the grouped rows: the stratum key, and the sums back from the means
        -- (sum x = n mean x, sum x^2 = Sxx + n mean x^2; 0 for a group without such ads).
        SELECT
            nullif(raw.val, '') AS val,
            concat_ws(
                '|',
                array_to_string(
                    ARRAY(
                        SELECT coalesce(nullif(ctx.v, ''), 'unknown')
                        FROM unnest(
                            ARRAY[raw.ctx1, raw.ctx2, raw.ctx3, raw.ctx4]
                            || string_to_array(raw.ctx_more, chr(31))
                        ) WITH ORDINALITY AS ctx (v, ord)
                        WHERE ctx.ord <= cardinality(v_context)
                        ORDER BY ctx.ord
                    ),
                    '|'
                ),
                'spend' || raw.bucket,
                to_char(raw.first_date, 'IYYY-"W"IW')
            ) AS stratum,
            raw.n_ads,
            raw.ns,
            raw.delivered,
            raw.n_ads * raw.mean_k AS k,
            raw.n_ads * (raw.mean_n - raw.mean_k) AS m,
            raw.sxx_n + raw.n_ads * raw.mean_n ^ 2 AS s2,
            coalesce(raw.ns * raw.mean_logit, 0) AS sl,
            coalesce(raw.syy_logit + raw.ns * raw.mean_logit ^ 2, 0) AS sll,
            coalesce(raw.ns * raw.mean_v, 0) AS sv
        FROM raw
    ),

    cell AS (
        SELECT
            r.stratum,
            r.val,
            sum(r.n_ads) AS n_ads,
            sum(r.ns) AS ns,
            sum(r.delivered) AS delivered,
            sum(r.k) AS k,
            sum(r.m) AS m,
            sum(r.s2) AS s2,
            sum(r.sl) AS sl,
            sum(r.sll) AS sll,
            sum(r.sv) AS sv
        FROM r
        GROUP BY r.stratum, r.val
    ),

    spread AS (
        -- Ad-to-ad spread: the within-cell variance of the ads' empirical logits (cell =
        -- stratum x value, ads without the dimension a cell of their own) less their mean
        -- binomial variance, pooled over cells (a method-of-moments estimate of tau^2);
        -- kappa = exp(tau^2) - 1 is the squared CV of CTR between ads of one cell.
        SELECT
            coalesce(sum(cell.ns - 1), 0)::double precision AS df,
            exp(greatest(
                sum(cell.sll - cell.sl ^ 2 / cell.ns - (cell.ns - 1) * cell.sv / cell.ns)
                / nullif(sum(cell.ns - 1), 0)::double precision,
                0
            )) - 1 AS kappa,
            -- The same pooled within-cell variance with the binomial part in: the spread of
            -- the ads' empirical logits themselves (docs/attribution.md#one-ad-one-vote).
            genome._ad_logit_variance(
                sum(cell.sll - cell.sl ^ 2 / cell.ns), sum(cell.ns - 1), sum(cell.sv), sum(cell.ns)
            ) AS logit_var
        FROM cell
        WHERE cell.ns > 0
    ),

    strat AS (
        SELECT
            cell.stratum,
            sum(cell.k) AS k,
            sum(cell.m) AS m,
            sum(cell.s2) AS s2,
            sum(cell.ns) AS ns,
            sum(cell.sl) AS sl
        FROM cell
        GROUP BY cell.stratum
    ),

    total AS (
        -- As delivered: the crude odds ratio is the naive "CTR by tag".
        SELECT
            sum(cell.k) AS k,
            sum(cell.delivered - cell.k) AS m
        FROM cell
    ),

    tab AS (
        SELECT
            cell.val,
            cell.stratum,
            cell.k AS a,
            cell.m AS b,
            strat.k - cell.k AS c,
            strat.m - cell.m AS d,
            cell.s2 AS s2_value,
            strat.s2 - cell.s2 AS s2_rest,
            cell.ns AS ns_value,
            strat.ns - cell.ns AS ns_rest,
            cell.sl AS sl_value,
            strat.sl - cell.sl AS sl_rest
        FROM cell
        INNER JOIN strat ON cell.stratum = strat.stratum
        WHERE cell.val IS NOT NULL
    ),

    per_value AS (
        SELECT
            cell.val,
            sum(cell.n_ads)::bigint AS n_ads,
            sum(cell.k) AS k,
            sum(cell.m) AS m,
            sum(cell.delivered) AS delivered
        FROM cell
        WHERE cell.val IS NOT NULL
        GROUP BY cell.val
    ),

    stats AS (
        SELECT s.*
        FROM (
            SELECT
                array_agg(tab.val ORDER BY tab.val, tab.stratum) AS vals,
                array_agg(tab.a ORDER BY tab.val, tab.stratum) AS a,
                array_agg(tab.b ORDER BY tab.val, tab.stratum) AS b,
                array_agg(tab.c ORDER BY tab.val, tab.stratum) AS c,
                array_agg(tab.d ORDER BY tab.val, tab.stratum) AS d,
                array_agg(tab.s2_value ORDER BY tab.val, tab.stratum) AS s2_value,
                array_agg(tab.s2_rest ORDER BY tab.val, tab.stratum) AS s2_rest,
                array_agg(tab.ns_value ORDER BY tab.val, tab.stratum) AS ns_value,
                array_agg(tab.ns_rest ORDER BY tab.val, tab.stratum) AS ns_rest,
                array_agg(tab.sl_value ORDER BY tab.val, tab.stratum) AS sl_value,
                array_agg(tab.sl_rest ORDER BY tab.val, tab.stratum) AS sl_rest
            FROM tab
        ) AS t
        CROSS JOIN spread
        CROSS JOIN LATERAL genome._attribution_stats(
            t.vals, t.a, t.b, t.c, t.d, t.s2_value, t.s2_rest, spread.kappa, spread.df,
            t.ns_value, t.ns_rest, t.sl_value, t.sl_rest, spread.logit_var
        ) AS s
    ),

    judged AS (
        SELECT
            pv.val,
            pv.n_ads,
            pv.k,
            pv.m,
            pv.delivered,
            -- Crude OR of the summed table as delivered: value vs the rest over all of the
            -- brand's ads.
            CASE
                WHEN (pv.delivered - pv.k) * (total.k - pv.k) > 0
                    THEN (pv.k * (total.m - (pv.delivered - pv.k))) / ((pv.delivered - pv.k) * (total.k - pv.k))
            END AS crude_or,
            st.*,
            spread.kappa,
            spread.df AS spread_df,
            CASE
                WHEN st.informative_strata < v_min_strata
                    THEN format(
                        'only %s informative strata (all margins > 0), fewer than %s',
                        st.informative_strata, v_min_strata
                    )
                WHEN st.mh_odds_ratio IS NULL OR st.mh_ci_lower IS NULL
                    THEN 'pooled odds ratio undefined (a zero in every stratum)'
                WHEN st.agreeing_strata < v_min_strata
                    THEN format(
                        'direction agrees in only %s strata, fewer than %s',
                        st.agreeing_strata, v_min_strata
                    )
                WHEN st.agreeing_strata <= st.disagreeing_strata
                    THEN format(
                        'direction agrees in %s strata and reverses in %s',
                        st.agreeing_strata, st.disagreeing_strata
                    )
                WHEN st.mh_ci_lower_ad_level IS NULL
                    THEN 'ad-to-ad spread not estimable (no stratum has two ads with the same value)'
                WHEN st.mh_ci_lower_ad_level <= 1 AND st.mh_ci_upper_ad_level >= 1
                    THEN 'ad-level 95% confidence interval of the pooled odds ratio includes 1'
                -- One ad, one vote (docs/attribution.md#one-ad-one-vote): a few breakout ads
                -- that Meta served the most can carry the pooled odds ratio alone.
                WHEN st.ad_mean_p_value IS NULL OR st.ad_mean_p_value >= 0.05
                    OR sign(st.ad_mean_log_or) <> sign(ln(st.mh_odds_ratio))
                    THEN 'the ads compared one for one (each ad''s own CTR, equal weight) do not '
                        'show it at 95%'
            END AS reason
        FROM per_value AS pv
        CROSS JOIN total
        CROSS JOIN spread
        INNER JOIN stats AS st ON pv.val = st.value
    )

    SELECT
        p_dimension AS dimension,
        j.val AS value,
        j.n_ads,
        j.delivered::bigint AS impressions,
        j.k::bigint AS clicks,
        j.k / nullif(j.delivered, 0) AS ctr,
        j.k / nullif(j.k + j.m, 0) AS fatigue_adjusted_ctr,
        j.crude_or AS crude_odds_ratio,
        j.mh_odds_ratio,
        j.mh_log_or_se,
        j.mh_ci_lower,
        j.mh_ci_upper,
        sqrt(j.kappa) AS ad_ctr_cv,
        j.spread_df::integer AS ad_spread_df,
        j.mh_log_or_se_ad_level,
        j.mh_ci_lower_ad_level,
        j.mh_ci_upper_ad_level,
        j.p_value_ad_level,
        j.design_effect,
        j.ad_mean_log_or,
        j.ad_mean_p_value,
        j.cmh_chi2,
        j.cmh_p_value,
        j.breslow_day_chi2,
        j.breslow_day_df,
        j.breslow_day_p_value,
        j.n_strata,
        j.informative_strata,
        j.agreeing_strata,
        j.disagreeing_strata,
        coalesce(
            (j.crude_or > 1 AND j.mh_odds_ratio < 1) OR (j.crude_or < 1 AND j.mh_odds_ratio > 1),
            false
        ) AS reversal,
        CASE WHEN j.reason IS NULL THEN 'finding' ELSE 'insufficient' END AS finding,
        coalesce(
            j.reason,
            format(
                'consistent in %s of %s informative strata, ad-level 95%% CI excludes 1, '
                'the ads one for one agree',
                j.agreeing_strata, j.informative_strata
            )
        ) AS finding_reason,
        'correlational'::text AS label
    FROM judged AS j
    ORDER BY j.val;
END;
$$;

COMMENT ON FUNCTION genome.attribute(uuid, text, timestamptz) IS
'Stratified (Cochran-Mantel-Haenszel) attribution of click odds to the values of one element or '
'context dimension for one brand, from genome.creative_element_rewards with matured_at <= p_now. '
'Strata: every context dimension except p_dimension (awareness_stage, audience_type; missing -> '
'''unknown'') x spend bucket of total_spend (edges: setting attribution_spend_buckets) x ISO week of '
'first_date. In each stratum a 2x2 table per value: ads with the value vs the other ads, clicks vs '
'non-click impressions (impressions - clicks), summed over ads. Read-only. One row per value present, '
'ordered by value. Columns: dimension, value; n_ads, impressions, clicks, ctr of the ads with the '
'value as delivered; fatigue_adjusted_ctr: their clicks per fresh-equivalent impression (each ad''s '
'impressions times exp of its frequency log factor from the joint learner''s last fit, '
'genome.learner_posteriors.frequency_log_factors; docs/attribution.md#fatigue), the exposure every '
'statistic below but the crude one counts (= ctr where no ad has a factor); '
'crude_odds_ratio: odds ratio of the table summed over all ads as delivered (the naive comparison); '
'mh_odds_ratio: Mantel-Haenszel pooled odds ratio; mh_log_or_se: Robins-Breslow-Greenland SE of its '
'log; mh_ci_lower, mh_ci_upper: 95% normal CI of the pooled OR (these treat impressions as independent '
'trials, as statsmodels does); ads as the units that vary (docs/attribution.md#ads-as-the-units): '
'ad_ctr_cv: estimated coefficient of variation of CTR between ads of one cell (cell = stratum x '
'value; sqrt(exp(tau^2) - 1), tau^2 the pooled within-cell variance of the ads'' empirical logits '
'less their binomial variance, truncated at 0; the same in every row), ad_spread_df: its degrees '
'of freedom (ads - cells), mh_log_or_se_ad_level: SE of log '
'mh_odds_ratio with the ad-to-ad spread added to the RBG variance (delta method), '
'mh_ci_lower_ad_level, mh_ci_upper_ad_level: its 95% CI with Student t (ad_spread_df), '
'p_value_ad_level: two-sided t test of OR = 1 with it, design_effect: ad-level / RBG variance '
'(NULL when no cell has two ads); one ad, one vote (docs/attribution.md#one-ad-one-vote): '
'ad_mean_log_or: per informative stratum with ads on both sides the difference of the mean '
'empirical logits of the value''s ads and the other ads (each ad one unit whatever its '
'impressions), pooled over those strata by inverse variance (the pooled within-cell variance of '
'the ads'' empirical logits, at least their mean binomial variance, over each side''s count), '
'ad_mean_p_value: its two-sided Student t p-value (ad_spread_df); cmh_chi2, cmh_p_value: Mantel-Haenszel test '
'of OR = 1, df 1, no continuity correction (statsmodels StratifiedTable.test_null_odds default); '
'breslow_day_chi2, breslow_day_df (informative strata - 1), breslow_day_p_value: heterogeneity of '
'the stratum odds ratios, no Tarone adjustment (test_equal_odds default); n_strata: strata with at '
'least one ad of the value; informative_strata: those with all four margins > 0 (only they enter '
'the statistics; the others add zero to MH and CMH); agreeing_strata / disagreeing_strata: '
'informative strata whose own odds ratio is on the same / opposite side of 1 as the pooled one; '
'reversal: crude and pooled odds ratios on opposite sides of 1 (Simpson''s paradox: the naive '
'comparison points the wrong way); finding: ''finding'' when at least attribution_min_strata '
'informative strata agree in direction, more agree than reverse, the ad-level 95% CI excludes '
'1, and the ads one for one agree (ad_mean_p_value < 0.05, ad_mean_log_or on the side of the pooled '
'odds ratio), else '
'''insufficient''; finding_reason says which condition decided; label: always ''correlational'' '
'(observational, not an experiment). Undefined statistics (no informative stratum, a pooled OR of '
'0 or infinity, a zero cell in the crude table) are NULL. Errors (nothing is written): GN005 a NULL '
'argument; GN001 unknown brand; GN004 bad p_now; GN302 dimension not in genome.element_dimensions; GN303 dimension '
'not of kind element or context; GN090 attribution settings missing or malformed.';
