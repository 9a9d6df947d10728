-- APPLY (docs/learning.md#performance-context): the advisory prompt block.

CREATE OR REPLACE FUNCTION genome._performance_context(p_brand_id uuid, p_product_id uuid DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_state record;
    v_lines text;
BEGIN
    PERFORM genome._check_brand_product(p_brand_id, p_product_id);
    SELECT gs.* INTO v_state FROM genome.genome_state AS gs WHERE gs.brand_id = p_brand_id;

    WITH scores AS (
        SELECT DISTINCT ON (s.element_dimension, s.element_value)
            s.element_dimension,
            s.element_value,
            s.posterior_alpha / (s.posterior_alpha + s.posterior_beta) AS mean,
            s.n_rewards
        FROM genome.creative_element_scores AS s
        WHERE s.brand_id = p_brand_id
          AND (s.product_id IS NULL OR s.product_id = p_product_id)
          AND s.n_rewards > 0
        -- The product's own row first where it exists.
        ORDER BY s.element_dimension, s.element_value, s.product_id NULLS LAST
    ),

    ranked AS (
        SELECT
            sc.*,
            row_number() OVER (PARTITION BY sc.element_dimension ORDER BY sc.mean DESC, sc.element_value) AS best,
            row_number() OVER (PARTITION BY sc.element_dimension ORDER BY sc.mean, sc.element_value) AS worst,
            count(*) OVER (PARTITION BY sc.element_dimension) AS k
        FROM scores AS sc
    )

    SELECT string_agg(
        format(
            '- %s: best %s (%s%% success, n=%s)%s',
            r.element_dimension,
            r.element_value,
            round(100 * r.mean::numeric, 0),
            r.n_rewards,
            coalesce((
                SELECT format('; weakest %s (%s%% success, n=%s)', w.element_value,
                              round(100 * w.mean::numeric, 0), w.n_rewards)
                FROM ranked AS w
                WHERE w.element_dimension = r.element_dimension AND w.worst = 1 AND w.k > 1
            ), '')
        ),
        E'\n' ORDER BY d.strategic_weight DESC, r.element_dimension
    )
    INTO v_lines
    FROM ranked AS r
    INNER JOIN genome.element_dimensions AS d ON d.dimension = r.element_dimension
    WHERE r.best = 1;

    RETURN concat_ws(E'\n',
        format(
            'PERFORMANCE CONTEXT (advisory; correlational findings from %s matured ads, genome v%s, cold-start level %s; not causal proof):',
            coalesce(v_state.matured_ads, 0), coalesce(v_state.genome_version, 0),
            coalesce(v_state.cold_start_level, 0)
        ),
        CASE WHEN coalesce(v_state.is_stale, false)
            THEN 'WARNING: the genome is STALE: its predictions have not matched results for several weeks; treat these hints with caution.'
        END,
        coalesce(v_lines, '- no matured evidence yet for this brand: explore freely.')
    );
END
$$;
COMMENT ON FUNCTION genome._performance_context(uuid, uuid) IS
'Internal: the body of genome.performance_context, for the agents'' definer functions (they run as the owner, with no organization set). The advisory prompt block (docs/learning.md#performance-context): per element dimension the best and weakest value by posterior mean, with evidence counts, labelled correlational; says when the genome is stale. GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product.';

-- The app's entry (SECURITY DEFINER, owned by genome_api, docs/security.md#roles): row-level
-- security of the caller's organization applies inside; the agents call the twin.
CREATE OR REPLACE FUNCTION genome.performance_context(p_brand_id uuid, p_product_id uuid DEFAULT NULL)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT genome._performance_context(p_brand_id, p_product_id)
$$;
COMMENT ON FUNCTION genome.performance_context(uuid, uuid) IS
'The advisory prompt block (docs/learning.md#performance-context): per element dimension the best and weakest value by posterior mean, with evidence counts, labelled correlational; says when the genome is stale. GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product.';
