-- Pairwise interactions of element values on the log-odds of a click: how far the pair's
-- observed click odds are from what the two values' separate effects add up to.

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
            g.k,
            g.m
        FROM (
            SELECT
                cer.element_tags - v_others AS tags,
                count(*) AS n,
                sum(cer.total_clicks::double precision) AS k,
                sum((cer.total_impressions - cer.total_clicks)::double precision) AS m
            FROM genome.creative_element_rewards AS cer
            WHERE cer.brand_id = p_brand_id AND cer.matured_at <= p_now
            GROUP BY cer.element_tags - v_others
        ) AS g
    ),

    total AS (
        SELECT
            sum(combo.n) AS n,
            sum(combo.k) AS k,
            sum(combo.m) AS m
        FROM combo
    ),

    combo_value AS (
        SELECT
            combo.combo_id,
            e.key AS dim,
            e.value AS val,
            combo.n,
            combo.k,
            combo.m
        FROM combo
        CROSS JOIN LATERAL jsonb_each_text(combo.tags) AS e
        WHERE e.key = ANY(v_elements) AND nullif(e.value, '') IS NOT NULL
    ),

    per_value AS (
        SELECT
            cv.dim,
            cv.val,
            sum(cv.n) AS n,
            sum(cv.k) AS k,
            sum(cv.m) AS m
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
            sum(x.k) AS k11,
            sum(x.m) AS m11
        FROM combo_value AS x
        INNER JOIN combo_value AS y ON x.combo_id = y.combo_id AND x.dim < y.dim
        GROUP BY x.dim, x.val, y.dim, y.val
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
            total.m - pa.m - pb.m + p.m11 AS m00
        FROM pair AS p
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
            ln(c.k10 / c.m10) + ln(c.k01 / c.m01) - ln(c.k00 / c.m00) AS additive_logit
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
                ORDER BY abs(e.eff) / e.se DESC, e.dim_a, e.val_a, e.dim_b, e.val_b
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
        CASE
            WHEN r.eff - 1.959963984540054 * r.se > 0 THEN 'synergy'
            WHEN r.eff + 1.959963984540054 * r.se < 0 THEN 'conflict'
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
'interval; z = interaction_log_or / se; direction: ''synergy'' (CI above 0), ''conflict'' (CI below '
'0), ''neutral''. Pairs with a zero count in any of the 8 cells are skipped (no continuity '
'correction). Returns the top interaction_top_n pairs (setting) ranked by |interaction_log_or| / se '
'(= |z|) descending, ties by dimension and value names; rank 1 is the strongest evidence. Also: '
'n_ads (all matured ads of the brand), n_a, n_b (ads with each value), n_both, impressions_both, '
'clicks_both, ctr_both (observed CTR of the pair), ctr_both_additive (CTR the pair would have if '
'the effects added on the log-odds scale), label (always ''correlational''). Read-only. Errors: '
'GN005 NULL brand; GN001 unknown brand; GN004 bad p_now; GN090 setting interaction_top_n missing or not an integer >= 1.';
