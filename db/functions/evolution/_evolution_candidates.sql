-- docs/evolution.md#next-variable: what is known about each single-variable change of a winner - the genome's Beta
-- scores and the causal knowledge base, combined into a belief about the relative lift.

-- An earlier signature without p_now.
DROP FUNCTION IF EXISTS genome._evolution_candidates(uuid);

CREATE OR REPLACE FUNCTION genome._evolution_candidates(
    p_winner_ad_id uuid,
    p_now timestamptz DEFAULT now()
)
RETURNS TABLE (
    dimension text,
    strategic_weight double precision,
    current_value text,
    value text,
    genome_lift double precision,
    genome_sd double precision,
    causal_lift double precision,
    causal_sd double precision,
    causal_experiments integer,
    lift_mean double precision,
    lift_sd double precision
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    WITH winner AS (
        SELECT
            g.id,
            g.element_tags,
            r.product_id,
            p.brand_id
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        WHERE g.id = p_winner_ad_id
    ),

    tested AS (
        SELECT l.variable_changed
        FROM genome.ad_lineage AS l
        WHERE l.parent_ad_id = p_winner_ad_id
          AND l.evolution_type = 'iteration'
          AND l.variable_changed IS NOT NULL
    ),

    options AS (
        -- Every untested element variable of the winner, and every other value of it.
        SELECT
            w.brand_id,
            w.product_id,
            d.dimension,
            d.strategic_weight::double precision AS strategic_weight,
            w.element_tags ->> d.dimension AS current_value,
            v.value
        FROM winner AS w
        INNER JOIN genome.element_dimensions AS d
            ON d.kind = 'element' AND d.strategic_weight > 0 AND w.element_tags ? d.dimension
        INNER JOIN genome.element_values AS v
            ON v.dimension = d.dimension AND v.value <> w.element_tags ->> d.dimension
        WHERE d.dimension NOT IN (SELECT t.variable_changed FROM tested AS t)
    ),

    beliefs AS (
        -- The sampled Beta of each value (the product's score, else the brand's, else flat).
        SELECT
            o.*,
            coalesce(vp.posterior_alpha, vb.posterior_alpha, 1.0) AS a_v,
            coalesce(vp.posterior_beta, vb.posterior_beta, 1.0) AS b_v,
            coalesce(cp.posterior_alpha, cb.posterior_alpha, 1.0) AS a_c,
            coalesce(cp.posterior_beta, cb.posterior_beta, 1.0) AS b_c
        FROM options AS o
        LEFT JOIN genome.creative_element_scores AS vp
            ON vp.brand_id = o.brand_id AND vp.product_id = o.product_id
            AND vp.element_dimension = o.dimension AND vp.element_value = o.value
        LEFT JOIN genome.creative_element_scores AS vb
            ON vb.brand_id = o.brand_id AND vb.product_id IS NULL
            AND vb.element_dimension = o.dimension AND vb.element_value = o.value
        LEFT JOIN genome.creative_element_scores AS cp
            ON cp.brand_id = o.brand_id AND cp.product_id = o.product_id
            AND cp.element_dimension = o.dimension AND cp.element_value = o.current_value
        LEFT JOIN genome.creative_element_scores AS cb
            ON cb.brand_id = o.brand_id AND cb.product_id IS NULL
            AND cb.element_dimension = o.dimension AND cb.element_value = o.current_value
    ),

    genome_lift AS (
        -- Relative lift m_v / m_c - 1 of the Beta means, variance by the delta method.
        SELECT
            b.*,
            m.m_v / m.m_c - 1.0 AS lift,
            sqrt(m.var_v / (m.m_c ^ 2) + (m.m_v ^ 2) * m.var_c / (m.m_c ^ 4)) AS sd
        FROM beliefs AS b
        CROSS JOIN LATERAL (
            SELECT
                b.a_v / (b.a_v + b.b_v) AS m_v,
                b.a_c / (b.a_c + b.b_c) AS m_c,
                b.a_v * b.b_v / ((b.a_v + b.b_v) ^ 2 * (b.a_v + b.b_v + 1.0)) AS var_v,
                b.a_c * b.b_c / ((b.a_c + b.b_c) ^ 2 * (b.a_c + b.b_c + 1.0)) AS var_c
        ) AS m
    ),

    causal AS (
        -- Completed experiments of the brand on this pair, in either direction; the relative
        -- 95% interval gives the standard deviation. Precision-weighted across experiments.
        SELECT
            o.dimension,
            o.value,
            sum(x.lift / (x.sd ^ 2)) / sum(1.0 / (x.sd ^ 2)) AS lift,
            sqrt(1.0 / sum(1.0 / (x.sd ^ 2))) AS sd,
            count(*)::integer AS n
        FROM options AS o
        INNER JOIN genome.causal_effects AS ce
            ON ce.brand_id = o.brand_id AND ce.test_variable = o.dimension
            AND ce.created_at <= p_now
            AND (
                (ce.control_value = o.current_value AND ce.treatment_value = o.value)
                OR (ce.control_value = o.value AND ce.treatment_value = o.current_value)
            )
        CROSS JOIN LATERAL (
            SELECT
                ce.control_value = o.current_value AS forward,
                ce.relative_effect::double precision AS r,
                (ce.relative_ci_upper - ce.relative_ci_lower) / (2.0 * 1.959964) AS r_sd
        ) AS e
        CROSS JOIN LATERAL (
            -- Reverse direction: the lift of v over c is 1 / (1 + r) - 1.
            SELECT
                CASE WHEN e.forward THEN e.r ELSE 1.0 / (1.0 + e.r) - 1.0 END AS lift,
                CASE WHEN e.forward THEN e.r_sd ELSE e.r_sd / ((1.0 + e.r) ^ 2) END AS sd
        ) AS x
        WHERE e.r_sd > 0 AND e.r > -1
        GROUP BY o.dimension, o.value
    )

    SELECT
        g.dimension,
        g.strategic_weight,
        g.current_value,
        g.value,
        g.lift,
        g.sd,
        c.lift,
        c.sd,
        coalesce(c.n, 0),
        -- One scale, counted once (docs/evolution.md#next-variable): the posteriors already
        -- hold the experiments update_scores has combined (each once, on the learner's
        -- scale, docs/learning.md#causal-evidence), so the belief is the genome's lift; the
        -- causal columns are shown, not added a second time.
        g.lift,
        g.sd
    FROM genome_lift AS g
    LEFT JOIN causal AS c ON c.dimension = g.dimension AND c.value = g.value
    ORDER BY g.strategic_weight DESC, g.dimension, g.value;
$$;
COMMENT ON FUNCTION genome._evolution_candidates(uuid, timestamptz) IS
'Internal: every single-variable change of a winner - each untested element variable it is tagged with (strategic_weight > 0, not yet changed in one of its iterations) and each other value - with a Gaussian belief about the relative lift over the current value: from the genome (posterior Beta means of the value and the current value, product scores else brand scores else Beta(1,1); lift m_v / m_c - 1, sd by the delta method), and from the brand''s causal_effects recorded by p_now on that pair in either direction (relative 95% interval / 3.92, precision-weighted across experiments), shown but not added: lift_mean and lift_sd are the genome''s, whose posteriors already hold the experiments update_scores combined once on the learner''s scale (docs/learning.md#causal-evidence).';
