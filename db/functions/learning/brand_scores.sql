-- The brand-level posterior of every element value with its credible interval, for the
-- dashboard and the app (docs/learning.md).

CREATE OR REPLACE FUNCTION genome.brand_element_scores(
    p_brand_id uuid,
    p_level double precision DEFAULT 0.95
)
RETURNS TABLE (
    i integer,
    dimension text,
    value text,
    posterior_alpha double precision,
    posterior_beta double precision,
    n_rewards integer,
    win_probability double precision,
    cold_start_level integer,
    genome_version integer,
    mean double precision,
    ci_lower double precision,
    ci_upper double precision
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_brand(p_brand_id);
    RETURN QUERY
    WITH s AS (
        SELECT
            row_number() OVER (
                ORDER BY d.strategic_weight DESC, sc.element_dimension,
                    sc.posterior_alpha / (sc.posterior_alpha + sc.posterior_beta) DESC,
                    sc.element_value
            )::integer AS i,
            sc.element_dimension, sc.element_value, sc.posterior_alpha, sc.posterior_beta,
            sc.n_rewards, sc.win_probability, sc.cold_start_level, sc.genome_version
        FROM genome.creative_element_scores AS sc
        INNER JOIN genome.element_dimensions AS d ON sc.element_dimension = d.dimension
        WHERE sc.brand_id = p_brand_id AND sc.product_id IS NULL
    ),

    a AS (
        SELECT
            array_agg(s.posterior_alpha ORDER BY s.i) AS alphas,
            array_agg(s.posterior_beta ORDER BY s.i) AS betas,
            array_agg(0.5::double precision ORDER BY s.i) AS incumbents
        FROM s
    )

    SELECT
        s.i, s.element_dimension::text, s.element_value::text,
        s.posterior_alpha::double precision, s.posterior_beta::double precision,
        s.n_rewards::integer, s.win_probability::double precision, s.cold_start_level::integer,
        s.genome_version::integer,
        (s.posterior_alpha / (s.posterior_alpha + s.posterior_beta))::double precision,
        v.ci_lower, v.ci_upper
    FROM s
    CROSS JOIN a
    INNER JOIN LATERAL genome._beta_value_of_information(
        a.alphas, a.betas, a.incumbents, p_level
    ) AS v ON s.i = v.idx
    ORDER BY s.i;
END
$$;
COMMENT ON FUNCTION genome.brand_element_scores(uuid, double precision) IS
'The brand-level posterior (product_id NULL) of every element value of brand p_brand_id: Beta(posterior_alpha, posterior_beta), its mean and equal-tailed credible interval at p_level (default 95%), ordered by the dimension''s strategic weight, then best mean first (i is that order). GN005 NULL brand; GN001 unknown brand (or another organization''s).';
