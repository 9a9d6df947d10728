-- Cold-start priors (docs/learning.md#category-priors, cross-brand transfer): what a brand may learn from
-- its category's opted-in peers, with the shrinkage either fixed or estimated from how much
-- the peers disagree (empirical Bayes). A step of update_scores, named _update_scores_<step> so
-- the security set-up keeps it the job's (not the app's to call).

-- One piece on purpose: one INSERT whose named CTEs are the stages (each opted-in brand's
-- aggregates, its peers' cells, the pooled evidence, the method-of-moments variance between
-- brands, the shrinkage); the variance reads the peers' cells again per pooled value, so as
-- separate functions the cells would be materialized and re-joined.
CREATE OR REPLACE FUNCTION genome._update_scores_brand_priors(p_now timestamptz, p_version integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_threshold double precision := genome._setting_num('success_threshold');
    v_imported_weight double precision := genome._setting_num('imported_ad_weight');
    v_cap double precision := genome._setting_num('category_prior_shrinkage');
    v_floor double precision := genome._setting_num('category_prior_shrinkage_floor');
    v_method text := genome._setting('category_prior_method') #>> '{}';
    v_rows integer;
BEGIN
    IF v_method IS NULL OR v_method NOT IN ('fixed', 'empirical_bayes') THEN
        RAISE EXCEPTION 'setting category_prior_method must be fixed or empirical_bayes, got %',
            coalesce(v_method, 'NULL') USING ERRCODE = 'GN090';
    END IF;
    IF v_cap IS NULL OR v_floor IS NULL OR NOT (0 <= v_floor AND v_floor <= v_cap AND v_cap <= 1) THEN
        RAISE EXCEPTION 'settings need 0 <= category_prior_shrinkage_floor (%) <= category_prior_shrinkage (%) <= 1',
            v_floor, v_cap USING ERRCODE = 'GN090';
    END IF;

    DELETE FROM genome.brand_priors;
    WITH evidence AS (
        -- Aggregates per opted-in brand and element value: the only thing that crosses.
        SELECT
            cer.brand_id,
            t.key AS dimension,
            t.value #>> '{}' AS value,
            sum(w.weight * (cer.reward_score >= v_threshold)::integer) AS successes,
            sum(w.weight * (cer.reward_score < v_threshold)::integer) AS failures
        FROM genome.creative_element_rewards AS cer
        INNER JOIN public.brands AS src
            ON src.id = cer.brand_id AND src.cross_brand_sharing AND src.category IS NOT NULL
        CROSS JOIN LATERAL jsonb_each(cer.element_tags) AS t
        CROSS JOIN LATERAL (
            SELECT CASE WHEN cer.is_imported THEN v_imported_weight ELSE 1.0 END AS weight
        ) AS w
        INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
        INNER JOIN genome.element_values AS ev ON ev.dimension = t.key AND ev.value = t.value #>> '{}'
        WHERE cer.matured_at <= p_now
        GROUP BY cer.brand_id, t.key, t.value #>> '{}'
    ),

    cells AS (
        -- For each receiving brand: its peers' cells (the other opted-in brands of its category).
        SELECT
            target.id AS target_id,
            e.brand_id AS peer_id,
            e.dimension,
            e.value,
            e.successes,
            e.failures,
            e.successes + e.failures AS n
        FROM public.brands AS target
        INNER JOIN public.brands AS peer
            ON peer.category = target.category
            AND peer.id <> target.id
            AND peer.cross_brand_sharing
        INNER JOIN evidence AS e ON e.brand_id = peer.id
        WHERE target.cross_brand_sharing AND target.category IS NOT NULL
    ),

    pooled AS (
        SELECT
            c.target_id,
            c.dimension,
            c.value,
            sum(c.successes) AS successes,
            sum(c.failures) AS failures,
            sum(c.n) AS n,
            sum(c.n * c.n) AS n_sq,
            count(DISTINCT c.peer_id) AS peers,
            sum(c.successes) / nullif(sum(c.n), 0) AS mu
        FROM cells AS c
        GROUP BY c.target_id, c.dimension, c.value
    ),

    moments AS (
        -- Method of moments per (receiving brand, dimension), pooled over the dimension's
        -- values: Q = sum n_j (p_j - mu_v)^2 has expectation
        -- sum (J_v - 1) mu_v (1 - mu_v) + tau^2 sum (N_v - sum n_j^2 / N_v).
        SELECT
            p.target_id,
            p.dimension,
            sum(dev.q) AS q,
            sum((p.peers - 1) * p.mu * (1.0 - p.mu)) AS q0,
            sum(p.n - p.n_sq / p.n) AS scale,
            max(p.peers) AS max_peers
        FROM pooled AS p
        INNER JOIN LATERAL (
            SELECT sum(c.n * power(c.successes / c.n - p.mu, 2)) AS q
            FROM cells AS c
            WHERE c.target_id = p.target_id AND c.dimension = p.dimension
              AND c.value = p.value AND c.n > 0
        ) AS dev ON true
        WHERE p.n > 0
        GROUP BY p.target_id, p.dimension
    ),

    shrink AS (
        SELECT
            p.target_id,
            p.dimension,
            p.value,
            p.successes,
            p.failures,
            p.n,
            p.peers,
            tau.tau2,
            CASE
                WHEN v_method = 'fixed' OR tau.tau2 IS NULL THEN v_cap
                -- No disagreement beyond binomial noise: the peers say the same, keep the cap.
                WHEN tau.tau2 <= 0 THEN v_cap
                -- Beta-binomial: a brand's rate has variance mu (1 - mu) / (kappa + 1) around
                -- mu, so the prior is worth kappa pseudo-observations, kappa / N of the evidence.
                ELSE least(v_cap, greatest(
                    v_floor,
                    greatest(p.mu * (1.0 - p.mu) / tau.tau2 - 1.0, 0.0) / p.n
                ))
            END AS shrinkage
        FROM pooled AS p
        LEFT JOIN moments AS m ON m.target_id = p.target_id AND m.dimension = p.dimension
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN m.max_peers >= 2 AND m.scale > 0 THEN greatest((m.q - m.q0) / m.scale, 0.0)
            END AS tau2
        ) AS tau
        WHERE p.n > 0
    )

    INSERT INTO genome.brand_priors (
        brand_id, element_dimension, element_value, prior_alpha, prior_beta, peer_brands,
        peer_observations, genome_version, shrinkage, between_brand_variance
    )
    SELECT
        s.target_id,
        s.dimension,
        s.value,
        1.0 + s.shrinkage * s.successes,
        1.0 + s.shrinkage * s.failures,
        s.peers,
        s.n,
        p_version,
        s.shrinkage,
        CASE WHEN v_method = 'empirical_bayes' THEN s.tau2 END
    FROM shrink AS s;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_brand_priors(timestamptz, integer) IS
'Internal (update_scores): rewrites genome.brand_priors. For every opted-in brand with a category and every element value its OTHER opted-in category peers have evidence for: prior_alpha = 1 + shrinkage x the peers'' summed (weighted) successes, prior_beta likewise with failures. shrinkage is category_prior_shrinkage when category_prior_method is fixed; with empirical_bayes it is estimated per (brand, dimension) from the between-brand variance tau^2 of the peers'' success rates (method of moments pooled over the dimension''s values, beyond binomial noise): kappa = mu (1 - mu) / tau^2 - 1 pseudo-observations, shrinkage = kappa / N clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]; when the peers agree (tau^2 = 0) or fewer than two peers inform the dimension it is the cap. Only aggregates are stored; a brand that did not opt in neither gives nor receives. Returns rows written. GN090: bad category_prior_* settings.';
