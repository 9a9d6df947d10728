-- Cold-start priors (seed 10.3): what a brand may learn from its category's peers.

CREATE OR REPLACE FUNCTION genome._compute_brand_priors(p_now timestamptz, p_version integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_threshold double precision := genome._setting_num('success_threshold');
    v_imported_weight double precision := genome._setting_num('imported_ad_weight');
    v_shrink double precision := genome._setting_num('category_prior_shrinkage');
    v_version integer := p_version;
    v_rows integer;
BEGIN
    DELETE FROM genome.brand_priors;
    WITH evidence AS (
        SELECT
            cer.brand_id,
            t.key AS dimension,
            t.value #>> '{}' AS value,
            sum(w.weight * (cer.reward_score >= v_threshold)::integer) AS successes,
            sum(w.weight * (cer.reward_score < v_threshold)::integer) AS failures
        FROM genome.creative_element_rewards AS cer
        CROSS JOIN LATERAL jsonb_each(cer.element_tags) AS t
        CROSS JOIN LATERAL (
            SELECT CASE WHEN cer.is_imported THEN v_imported_weight ELSE 1.0 END AS weight
        ) AS w
        INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
        WHERE cer.matured_at <= p_now
        GROUP BY cer.brand_id, t.key, t.value #>> '{}'
    )
    INSERT INTO genome.brand_priors (
        brand_id, element_dimension, element_value, prior_alpha, prior_beta, peer_brands,
        peer_observations, genome_version
    )
    SELECT
        target.id,
        e.dimension,
        e.value,
        1.0 + v_shrink * sum(e.successes),
        1.0 + v_shrink * sum(e.failures),
        count(DISTINCT peer.id),
        sum(e.successes + e.failures),
        v_version
    FROM public.brands AS target
    INNER JOIN public.brands AS peer
        ON peer.category = target.category
        AND peer.id <> target.id
        AND peer.cross_brand_sharing
    INNER JOIN evidence AS e ON e.brand_id = peer.id
    INNER JOIN genome.element_values AS ev
        ON ev.dimension = e.dimension AND ev.value = e.value
    WHERE target.cross_brand_sharing AND target.category IS NOT NULL
    GROUP BY target.id, e.dimension, e.value;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._compute_brand_priors(timestamptz, integer) IS
'Internal (update_scores): rewrites genome.brand_priors. For every opted-in brand with a category: 1 + shrinkage x the summed successes / failures of the OTHER opted-in brands of its category per element value. Only aggregates are stored; a brand that did not opt in neither gives nor receives. Returns rows written.';
