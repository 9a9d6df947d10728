-- Pairwise interactions of element values on the log-odds of a click: how far the pair's
-- observed click odds are from what the two values' separate effects add up to. Direction
-- and rank count the ads, not the impressions, as the units that vary
-- (docs/attribution.md#ads-as-the-units).

-- The earlier return type without the ad-level columns (CREATE OR REPLACE cannot change it).
DROP FUNCTION IF EXISTS genome.interactions(uuid, timestamptz);

-- One piece on purpose: one query whose named CTEs are the stages (pairs, per-value and pair
-- counts, 2x2 cells, interaction effect, ranking) over one brand's rewards; as separate
-- functions each stage would be materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.interactions(
    p_brand_id uuid,
    p_now timestamptz DEFAULT now()
)
RETURNS TABLE (
    rank integer,
    dimension_a text,
    value_a text,
    dimension_b text,
    value_b text,
    interaction_log_or double precision,
    se double precision,
    ci_lower double precision,
    ci_upper double precision,
    z double precision,
    ad_ctr_cv double precision,
    ad_spread_df integer,
    se_ad_level double precision,
    ci_lower_ad_level double precision,
    ci_upper_ad_level double precision,
    z_ad_level double precision,
    design_effect double precision,
    ad_mean_interaction double precision,
    ad_mean_ci_lower double precision,
    ad_mean_ci_upper double precision,
    direction text,
    n_ads bigint,
    n_a bigint,
    n_b bigint,
    n_both bigint,
    impressions_both bigint,
    clicks_both bigint,
    ctr_both double precision,
    ctr_both_additive double precision,
    label text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
-- A whole-brand aggregation: JIT compilation costs more than it saves here.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_top_n integer;
    v_elements text [];
    v_others text [];
BEGIN
    PERFORM genome._require_brand(p_brand_id);
    PERFORM genome._require_now(p_now);
    SELECT (v.value #>> '{}')::integer INTO v_top_n
    FROM genome._setting('interaction_top_n') AS v (value)
    WHERE jsonb_typeof(v.value) = 'number';
    IF v_top_n IS NULL OR v_top_n < 1 THEN
        RAISE EXCEPTION 'genome.interactions: setting interaction_top_n (integer >= 1) is required'
            USING ERRCODE = 'GN090';
    END IF;

    v_elements := ARRAY(
        SELECT ed.dimension FROM genome.element_dimensions AS ed WHERE ed.kind = 'element'
    );
    v_others := ARRAY(
        SELECT ed.dimension FROM genome.element_dimensions AS ed WHERE ed.kind <> 'element'
    );

    RETURN QUERY
    WITH combo AS (
        -- Ads collapse to their combination of element values first (a few thousand
        -- groups however many ads), so the pair expansion below is small.
        SELECT
            row_number() OVER () AS combo_id,
            g.tags,
            g.n,
            g.ns,
            g.k,
            g.m,
            g.s2,
            g.sl,
            g.sll,
            g.sv
        FROM (
            SELECT
                cer.element_tags - v_others AS tags,
                count(*) AS n,
                -- Ads with impressions: the ones whose CTR (and its spread) is defined.
                count(*) FILTER (WHERE cer.total_impressions > 0) AS ns,
                sum(cer.total_clicks::double precision) AS k,
                -- Non-click exposure: an ad's impressions count as their fresh equivalent
                -- where the joint learner fitted its fatigue (docs/attribution.md#fatigue).
                sum(h.n - cer.total_clicks) AS m,
                -- Per ad: squared impressions, and the empirical logit of its CTR with its
                -- binomial variance (docs/attribution.md#ads-as-the-units).
                sum(h.n * h.n) AS s2,
                sum(h.logit) AS sl,
                sum(h.logit * h.logit) AS sll,
                sum(1 / h.kh + 1 / h.mh) FILTER (WHERE cer.total_impressions > 0) AS sv
            FROM genome.creative_element_rewards AS cer
            LEFT JOIN genome._frequency_exposure_factors(p_brand_id) AS fq ON fq.generated_ad_id = cer.generated_ad_id
            CROSS JOIN LATERAL genome._ad_empirical_logit(
                cer.total_impressions * coalesce(fq.exposure_factor, 1.0), cer.total_clicks
            ) AS h
            WHERE cer.brand_id = p_brand_id AND cer.matured_at <= p_now
            GROUP BY cer.element_tags - v_others
        ) AS g
    ),

    total AS (
        SELECT
            sum(combo.n) AS n,
            sum(combo.ns) AS ns,
            sum(combo.k) AS k,
            sum(combo.m) AS m,
            sum(combo.s2) AS s2,
            coalesce(sum(combo.sl), 0) AS sl
        FROM combo
    ),

    combo_value AS (
        SELECT
            combo.combo_id,
            e.key AS dim,
            e.value AS val,
            combo.n,
            combo.ns,
            combo.k,
            combo.m,
            combo.s2,
            combo.sl,
            combo.sll,
            combo.sv
        FROM combo
        CROSS JOIN LATERAL jsonb_each_text(combo.tags) AS e
        WHERE e.key = ANY(v_elements) AND nullif(e.value, '') IS NOT NULL
    ),

    per_value AS (
        SELECT
            cv.dim,
            cv.val,
            sum(cv.n) AS n,
            sum(cv.ns) AS ns,
            sum(cv.k) AS k,
            sum(cv.m) AS m,
            sum(cv.s2) AS s2,
            coalesce(sum(cv.sl), 0) AS sl
        FROM combo_value AS cv
        GROUP BY cv.dim, cv.val
    ),

    pair AS (
        SELECT
            x.dim AS dim_a,
            x.val AS val_a,
            y.dim AS dim_b,
            y.val AS val_b,
            sum(x.n) AS n11,
            sum(x.ns) AS ns11,
            sum(x.k) AS k11,
            sum(x.m) AS m11,
            sum(x.s2) AS s2_11,
            sum(x.sl) AS sl,
            sum(x.sll) AS sll,
            sum(x.sv) AS sv
        FROM combo_value AS x
        INNER JOIN combo_value AS y ON x.combo_id = y.combo_id AND x.dim < y.dim
        GROUP BY x.dim, x.val, y.dim, y.val
    ),

    spread AS (
        -- Ad-to-ad spread per pair of dimensions: the within-cell variance of the ads'
        -- empirical logits (cell = the ads sharing both values) less their mean binomial
        -- variance, pooled over the cells (method of moments for tau^2); kappa = exp(tau^2) - 1
        -- is the squared CV of CTR between ads of one cell.
        SELECT
            s.dim_a,
            s.dim_b,
            s.df,
            s.kappa,
            s.logit_var,
            CASE WHEN s.df > 0 THEN genome._t_quantile(0.975, s.df) END AS q
        FROM (
            SELECT
                p.dim_a,
                p.dim_b,
                coalesce(sum(p.ns11 - 1) FILTER (WHERE p.ns11 > 0), 0)::double precision AS df,
                exp(greatest(
                    sum(p.sll - p.sl ^ 2 / p.ns11 - (p.ns11 - 1) * p.sv / p.ns11)
                    FILTER (WHERE p.ns11 > 0)
                    / nullif(sum(p.ns11 - 1) FILTER (WHERE p.ns11 > 0), 0)::double precision,
                    0
                )) - 1 AS kappa,
                -- The ads' logits' own within-cell variance (docs/attribution.md#one-ad-one-vote).
                genome._ad_logit_variance(
                    sum(p.sll - p.sl ^ 2 / p.ns11) FILTER (WHERE p.ns11 > 0),
                    sum(p.ns11 - 1) FILTER (WHERE p.ns11 > 0),
                    sum(p.sv) FILTER (WHERE p.ns11 > 0),
                    sum(p.ns11) FILTER (WHERE p.ns11 > 0)
                ) AS logit_var
            FROM pair AS p
            GROUP BY p.dim_a, p.dim_b
        ) AS s
    ),

    cells AS (
        -- 1 = the ad has the value; k = clicks, m = non-click impressions per cell.
        SELECT
            p.dim_a,
            p.val_a,
            p.dim_b,
            p.val_b,
            total.n AS n_ads,
            pa.n AS n_a,
            pb.n AS n_b,
            p.n11,
            p.k11,
            p.m11,
            pa.k - p.k11 AS k10,
            pa.m - p.m11 AS m10,
            pb.k - p.k11 AS k01,
            pb.m - p.m11 AS m01,
            total.k - pa.k - pb.k + p.k11 AS k00,
            total.m - pa.m - pb.m + p.m11 AS m00,
            p.s2_11,
            pa.s2 - p.s2_11 AS s2_10,
            pb.s2 - p.s2_11 AS s2_01,
            total.s2 - pa.s2 - pb.s2 + p.s2_11 AS s2_00,
            -- Per cell its ads with impressions and the sum of their empirical logits.
            p.ns11,
            pa.ns - p.ns11 AS ns10,
            pb.ns - p.ns11 AS ns01,
            total.ns - pa.ns - pb.ns + p.ns11 AS ns00,
            p.sl AS sl11,
            pa.sl - p.sl AS sl10,
            pb.sl - p.sl AS sl01,
            total.sl - pa.sl - pb.sl + p.sl AS sl00,
            sp.logit_var,
            sp.kappa,
            sp.df,
            sp.q
        FROM pair AS p
        INNER JOIN spread AS sp ON p.dim_a = sp.dim_a AND p.dim_b = sp.dim_b
        INNER JOIN per_value AS pa ON p.dim_a = pa.dim AND p.val_a = pa.val
        INNER JOIN per_value AS pb ON p.dim_b = pb.dim AND p.val_b = pb.val
        CROSS JOIN total
    ),

    effect AS (
        SELECT
            c.*,
            ln(c.k11 / c.m11) - ln(c.k10 / c.m10) - ln(c.k01 / c.m01) + ln(c.k00 / c.m00) AS eff,
            sqrt(
                1 / c.k11 + 1 / c.m11 + 1 / c.k10 + 1 / c.m10
                + 1 / c.k01 + 1 / c.m01 + 1 / c.k00 + 1 / c.m00
            ) AS se,
            -- Log-odds of a click for the pair if the two values' effects simply added up.
            ln(c.k10 / c.m10) + ln(c.k01 / c.m01) - ln(c.k00 / c.m00) AS additive_logit,
            -- Ad-level: each cell's 1/k + 1/m times its design effect
            -- 1 + kappa p / (1 - p) (sum n^2 / N - 1) (N impressions, p its CTR).
            CASE WHEN c.df > 0 THEN sqrt(
                (1 / c.k11 + 1 / c.m11) * (1 + c.kappa * c.k11 / c.m11 * (c.s2_11 / (c.k11 + c.m11) - 1))
                + (1 / c.k10 + 1 / c.m10) * (1 + c.kappa * c.k10 / c.m10 * (c.s2_10 / (c.k10 + c.m10) - 1))
                + (1 / c.k01 + 1 / c.m01) * (1 + c.kappa * c.k01 / c.m01 * (c.s2_01 / (c.k01 + c.m01) - 1))
                + (1 / c.k00 + 1 / c.m00) * (1 + c.kappa * c.k00 / c.m00 * (c.s2_00 / (c.k00 + c.m00) - 1))
            ) END AS se_ad,
            -- One ad, one vote (docs/attribution.md#one-ad-one-vote): the same contrast of the
            -- four cells' mean empirical logits, each ad one unit whatever its impressions.
            CASE WHEN c.df > 0 AND c.ns11 > 0 AND c.ns10 > 0 AND c.ns01 > 0 AND c.ns00 > 0 THEN
                c.sl11 / c.ns11 - c.sl10 / c.ns10 - c.sl01 / c.ns01 + c.sl00 / c.ns00
            END AS eff_ads,
            CASE WHEN c.df > 0 AND c.ns11 > 0 AND c.ns10 > 0 AND c.ns01 > 0 AND c.ns00 > 0 THEN
                sqrt(c.logit_var * (1 / c.ns11 + 1 / c.ns10 + 1 / c.ns01 + 1 / c.ns00))
            END AS se_ads
        FROM cells AS c
        -- A zero cell makes the log-odds infinite: such a pair is skipped, not corrected.
        WHERE
            c.k11 > 0 AND c.m11 > 0 AND c.k10 > 0 AND c.m10 > 0
            AND c.k01 > 0 AND c.m01 > 0 AND c.k00 > 0 AND c.m00 > 0
    ),

    ranked AS (
        SELECT
            e.*,
            row_number() OVER (
                ORDER BY
                    abs(e.eff) / e.se_ad DESC NULLS LAST, abs(e.eff) / e.se DESC,
                    e.dim_a, e.val_a, e.dim_b, e.val_b
            )::integer AS rnk
        FROM effect AS e
    )

    SELECT
        r.rnk AS rank,
        r.dim_a AS dimension_a,
        r.val_a AS value_a,
        r.dim_b AS dimension_b,
        r.val_b AS value_b,
        r.eff AS interaction_log_or,
        r.se,
        r.eff - 1.959963984540054 * r.se AS ci_lower,
        r.eff + 1.959963984540054 * r.se AS ci_upper,
        r.eff / r.se AS z,
        sqrt(r.kappa) AS ad_ctr_cv,
        r.df::integer AS ad_spread_df,
        r.se_ad AS se_ad_level,
        r.eff - r.q * r.se_ad AS ci_lower_ad_level,
        r.eff + r.q * r.se_ad AS ci_upper_ad_level,
        r.eff / r.se_ad AS z_ad_level,
        (r.se_ad / r.se) ^ 2 AS design_effect,
        r.eff_ads AS ad_mean_interaction,
        r.eff_ads - r.q * r.se_ads AS ad_mean_ci_lower,
        r.eff_ads + r.q * r.se_ads AS ad_mean_ci_upper,
        -- Both the pooled contrast's ad-level interval and the ads' one-for-one one.
        CASE
            WHEN r.eff - r.q * r.se_ad > 0 AND r.eff_ads - r.q * r.se_ads > 0 THEN 'synergy'
            WHEN r.eff + r.q * r.se_ad < 0 AND r.eff_ads + r.q * r.se_ads < 0 THEN 'conflict'
            ELSE 'neutral'
        END AS direction,
        r.n_ads::bigint,
        r.n_a::bigint,
        r.n_b::bigint,
        r.n11::bigint AS n_both,
        (r.k11 + r.m11)::bigint AS impressions_both,
        r.k11::bigint AS clicks_both,
        r.k11 / (r.k11 + r.m11) AS ctr_both,
        1 / (1 + exp(-r.additive_logit)) AS ctr_both_additive,
        'correlational'::text AS label
    FROM ranked AS r
    WHERE r.rnk <= v_top_n
    ORDER BY r.rnk;
END;
$$;

COMMENT ON FUNCTION genome.interactions(uuid, timestamptz) IS
'Top element-pair interactions on click odds for one brand, from genome.creative_element_rewards '
'with matured_at <= p_now. One row per pair (dimension_a < dimension_b alphabetically): rank, '
'dimension_a, value_a, dimension_b, value_b. For each pair of values of two different element dimensions (kind '
'''element'' in genome.element_dimensions) that occur together, the brand''s ads fall into four '
'cells (has value_a or not x has value_b or not); clicks and non-click impressions are pooled per '
'cell. interaction_log_or = logit(p11) - logit(p10) - logit(p01) + logit(p00): the pair''s observed '
'log-odds minus the additive expectation (equal to the interaction coefficient of a saturated '
'binomial GLM); se = sqrt(sum of 1/count over the 8 counts) (Wald); ci_lower/ci_upper: 95% Wald '
'interval; z = interaction_log_or / se (these treat impressions as independent trials). Ads as the '
'units that vary (docs/attribution.md#ads-as-the-units): ad_ctr_cv: estimated coefficient of '
'variation of CTR between ads sharing both values, per pair of dimensions (sqrt(exp(tau^2) - 1), '
'tau^2 the pooled within-cell variance of the ads'' empirical logits less their binomial variance, '
'truncated at 0); ad_spread_df: its degrees of freedom (ads with both dimensions - cells); '
'se_ad_level: sqrt(sum over the 4 cells of (1/clicks + 1/non-clicks) x the cell''s design effect '
'1 + kappa p / (1 - p) (sum of squared impressions / impressions - 1)), kappa = ad_ctr_cv^2; '
'ci_lower_ad_level/ci_upper_ad_level: 95% interval with Student t (ad_spread_df); z_ad_level = '
'interaction_log_or / se_ad_level; design_effect = (se_ad_level / se)^2 (ad-level columns NULL when '
'no cell of the dimension pair has two ads); one ad, one vote (docs/attribution.md#one-ad-one-vote): '
'ad_mean_interaction: the same contrast of the 4 cells'' mean empirical logits of their ads (each ad '
'one unit), ad_mean_ci_lower/ad_mean_ci_upper: its 95% interval with Student t (ad_spread_df), its '
'variance the pooled within-cell variance of the ads'' logits (at least their mean binomial variance) '
'x the sum of 1/ads over the 4 cells (NULL when a cell has no ad with impressions); direction: '
'''synergy'' (the ad-level CI and the one-for-one CI both above 0), ''conflict'' (both below 0), '
'''neutral'' (otherwise, or not estimable). Pairs with a zero count in any '
'of the 8 cells are skipped (no continuity correction). Returns the top interaction_top_n pairs '
'(setting) ranked by |interaction_log_or| / se_ad_level (= |z_ad_level|) descending (NULL last), '
'ties by |z|, then dimension and value names; rank 1 is the strongest evidence. Also: '
'n_ads (all matured ads of the brand), n_a, n_b (ads with each value), n_both, impressions_both, '
'clicks_both, ctr_both (observed CTR of the pair), ctr_both_additive (CTR the pair would have if '
'the effects added on the log-odds scale), label (always ''correlational''). Every count of '
'impressions (impressions_both, ctr_both too) is the fresh equivalent where the joint learner '
'fitted an ad''s fatigue: its impressions x exp(its log factor in '
'genome.learner_posteriors.frequency_log_factors), docs/attribution.md#fatigue. Read-only. Errors: '
'GN005 NULL brand; GN001 unknown brand; GN004 bad p_now; GN090 setting interaction_top_n missing or not an integer >= 1.';
