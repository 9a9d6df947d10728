-- Cold-start priors (docs/learning.md#category-priors, cross-brand transfer): what a brand may learn from
-- its category's opted-in peers, with the shrinkage either fixed or estimated from how much
-- the peers disagree (empirical Bayes). A step of update_scores, named _update_scores_<step> so
-- the security set-up keeps it the job's (not the app's to call).

-- One piece on purpose: one INSERT whose named CTEs are the stages (each opted-in brand's
-- aggregates, its peers' cells, the pooled evidence, the method-of-moments variance between
-- brands, the shrinkage); the variance reads the peers' cells again per pooled value, so as
-- separate functions the cells would be materialized and re-joined.
DROP FUNCTION IF EXISTS genome._update_scores_brand_priors(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_brand_priors(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
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
    v_min_brands integer := genome._setting_int('prior_min_peer_brands');
    v_min_orgs integer := genome._setting_int('prior_min_peer_organizations');
    v_granularity double precision := genome._setting_num('prior_count_granularity');
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
    IF v_min_brands IS NULL OR v_min_orgs IS NULL OR v_min_brands < 1 OR v_min_orgs < 1
       OR v_granularity IS NULL OR v_granularity <= 0 THEN
        RAISE EXCEPTION 'settings prior_min_peer_brands (%) and prior_min_peer_organizations (%) must be at least 1, prior_count_granularity (%) positive',
            v_min_brands, v_min_orgs, v_granularity USING ERRCODE = 'GN090';
    END IF;

    -- p_brands: the receiving brands to recompute (NULL: all); only their categories' evidence is read.
    DELETE FROM genome.brand_priors AS bp WHERE p_brands IS NULL OR bp.brand_id = ANY (p_brands);
    WITH tags AS MATERIALIZED (
        -- The opted-in brands' matured rewards, one row per element tag, each ad's tags
        -- unnested once. Joined in one query with the dimensions and values, the planner
        -- (which guesses 100 rows per jsonb_each) unnested every ad's tags once per element
        -- value: about 390,000 rows for 5,600 in a 90-day demo, 280 ms of its 285.
        SELECT
            cer.brand_id,
            cer.reward_score,
            cer.is_imported,
            t.key AS dimension,
            t.value #>> '{}' AS value
        FROM genome.creative_element_rewards AS cer
        INNER JOIN public.brands AS src
            ON src.id = cer.brand_id AND src.cross_brand_sharing AND src.category IS NOT NULL
        CROSS JOIN LATERAL jsonb_each(cer.element_tags) AS t
        WHERE cer.matured_at <= p_now
          AND (p_brands IS NULL OR src.category IN (
              SELECT r.category FROM public.brands AS r
              WHERE r.id = ANY (p_brands) AND r.cross_brand_sharing
          ))
    ),

    evidence AS (
        -- Aggregates per opted-in brand and element value: the only thing that crosses.
        SELECT
            tg.brand_id,
            tg.dimension,
            tg.value,
            sum(w.weight * (tg.reward_score >= v_threshold)::integer) AS successes,
            sum(w.weight * (tg.reward_score < v_threshold)::integer) AS failures
        FROM tags AS tg
        CROSS JOIN LATERAL (
            SELECT CASE WHEN tg.is_imported THEN v_imported_weight ELSE 1.0 END AS weight
        ) AS w
        INNER JOIN genome.element_dimensions AS d ON d.dimension = tg.dimension AND d.kind = 'element'
        INNER JOIN genome.element_values AS ev ON ev.dimension = tg.dimension AND ev.value = tg.value
        GROUP BY tg.brand_id, tg.dimension, tg.value
    ),

    cells AS (
        -- For each receiving brand: its peers' cells (the other opted-in brands of its category).
        SELECT
            target.id AS target_id,
            e.brand_id AS peer_id,
            -- A peer of the receiving brand's own organization is no one else's data: it is
            -- pooled but does not count towards the minimum (the app could subtract it).
            nullif(peer.organization_id, target.organization_id) AS foreign_org_id,
            CASE WHEN peer.organization_id <> target.organization_id THEN e.brand_id END AS foreign_peer_id,
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
          AND (p_brands IS NULL OR target.id = ANY (p_brands))
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
        WHERE c.n > 0
        GROUP BY c.target_id, c.dimension, c.value
        -- docs/learning.md#private-priors: a value's prior needs evidence from at least
        -- prior_min_peer_brands brands of at least prior_min_peer_organizations organizations
        -- other than the receiving brand's; below that no row (and no share in the variance).
        HAVING count(DISTINCT c.foreign_peer_id) >= v_min_brands
           AND count(DISTINCT c.foreign_org_id) >= v_min_orgs
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
        1.0 + r.shrinkage * r.successes,
        1.0 + r.shrinkage * r.failures,
        s.peers,
        r.successes + r.failures,
        p_version,
        r.shrinkage,
        CASE WHEN v_method = 'empirical_bayes' THEN genome._round_significant(s.tau2, 2) END
    FROM shrink AS s
    -- Published coarsened (docs/learning.md#private-priors): the pooled successes and
    -- failures to two significant figures and never finer than prior_count_granularity,
    -- the shrinkage to two significant figures, so no exact peer count can be solved for
    -- from what the app reads, nor from the difference of two versions.
    CROSS JOIN LATERAL (
        SELECT
            genome._round_significant(s.successes, 2, v_granularity) AS successes,
            genome._round_significant(s.failures, 2, v_granularity) AS failures,
            genome._round_significant(s.shrinkage, 2) AS shrinkage
    ) AS r
    WHERE r.successes + r.failures > 0;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;

CREATE OR REPLACE FUNCTION genome._round_significant(
    p_x double precision, p_digits integer, p_granularity double precision DEFAULT 0
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
STRICT
SET search_path = genome, public
AS $$
    -- Half away from zero on numeric (round on double precision rounds half to even).
    SELECT CASE
        WHEN p_x = 0 THEN 0.0
        ELSE round((p_x / g.step)::numeric)::double precision * g.step
    END
    FROM (
        SELECT greatest(
            p_granularity,
            power(10.0, floor(log(greatest(abs(p_x), 1e-300))) - p_digits + 1)
        ) AS step
    ) AS g
$$;
COMMENT ON FUNCTION genome._round_significant(double precision, integer, double precision) IS
'Internal: p_x rounded to p_digits significant figures and to a multiple of p_granularity, whichever step is coarser (0 stays 0); used to publish category priors (docs/learning.md#private-priors).';

COMMENT ON FUNCTION genome._update_scores_brand_priors(timestamptz, integer, uuid []) IS
'Internal (update_scores): rewrites genome.brand_priors of the receiving brands p_brands (NULL: all). For every opted-in brand with a category and every element value its OTHER opted-in category peers have evidence for, provided those peers include at least prior_min_peer_brands brands of at least prior_min_peer_organizations organizations other than the receiving brand''s (docs/learning.md#private-priors; below that no row): prior_alpha = 1 + shrinkage x the peers'' summed (weighted) successes, prior_beta likewise with failures. shrinkage is category_prior_shrinkage when category_prior_method is fixed; with empirical_bayes it is estimated per (brand, dimension) from the between-brand variance tau^2 of the peers'' success rates (method of moments pooled over the dimension''s qualifying values, beyond binomial noise): kappa = mu (1 - mu) / tau^2 - 1 pseudo-observations, shrinkage = kappa / N clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]; when the peers agree (tau^2 = 0) or fewer than two peers inform the dimension it is the cap. Published coarsened so no exact peer count can be solved for: the summed successes and failures rounded to two significant figures and to a multiple of prior_count_granularity (whichever is coarser; peer_observations is their sum), shrinkage and tau^2 to two significant figures; a value whose rounded counts are both 0 gets no row. Only aggregates are stored; a brand that did not opt in neither gives nor receives. Returns rows written. GN090: bad category_prior_* or prior_min_peer_* settings.';
