-- APPLY (docs/learning.md#selection): Thompson sampling per element dimension, with exploration.

CREATE OR REPLACE FUNCTION genome._uniform(p_seed bigint, p_key text)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = genome, public
AS $$
    SELECT ('x' || substr(md5(p_seed::text || ':' || p_key), 1, 8))::bit(32)::bigint / 4294967296.0;
$$;
COMMENT ON FUNCTION genome._uniform(bigint, text) IS
'Internal: a reproducible uniform [0,1) number from a seed and a key (no session random state is touched).';

CREATE OR REPLACE FUNCTION genome.exploration_rate(p_matured_ads integer, p_planned_ads integer)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT CASE
        WHEN p_planned_ads < genome._setting_num('forced_exploration_ads')
            THEN greatest(genome._setting_num('forced_exploration_rate'), b.rate)
        ELSE b.rate
    END
    FROM (
        SELECT greatest(
            genome._setting_num('exploration_floor'),
            genome._setting_num('exploration_start')
            * exp(-p_matured_ads / genome._setting_num('exploration_scale'))
        ) AS rate
    ) AS b;
$$;
COMMENT ON FUNCTION genome.exploration_rate(integer, integer) IS
'exploration_boost = max(exploration_floor, exploration_start * exp(-matured / exploration_scale)) (0.05, 0.30, 100), and at least forced_exploration_rate (30%) while the brand has planned fewer than forced_exploration_ads (30) ads (docs/learning.md#exploration).';

CREATE OR REPLACE FUNCTION genome.select_elements(
    p_brand_id uuid,
    p_product_id uuid DEFAULT NULL,
    p_now timestamptz DEFAULT now(),
    p_seed bigint DEFAULT NULL,
    p_fixed jsonb DEFAULT '{}'
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_fixed jsonb;
    v_matured integer;
    v_planned integer;
    v_level integer;
    v_version integer;
    v_explore double precision;
    v_result jsonb;
BEGIN
    PERFORM genome._check_brand_product(p_brand_id, p_product_id);
    PERFORM genome._require_now(p_now);
    v_fixed := CASE
        WHEN p_fixed IS NULL OR p_fixed = '{}'::jsonb THEN '{}'::jsonb
        ELSE genome.normalize_tags(p_fixed)
    END;

    -- The matured-ad count is the one the current genome version was built from (as are
    -- the win probabilities), so the hot path reads one row instead of counting rewards.
    SELECT
        coalesce(gs.matured_ads, 0), coalesce(gs.planned_ads, 0),
        coalesce(gs.cold_start_level, 0), coalesce(gs.genome_version, 0)
    INTO v_matured, v_planned, v_level, v_version
    FROM (SELECT 1) AS one
    LEFT JOIN genome.genome_state AS gs ON gs.brand_id = p_brand_id;
    -- genome._setting raises GN090 for a missing exploration setting.
    v_explore := genome.exploration_rate(v_matured, v_planned);

    WITH candidates AS (
        SELECT
            v.dimension,
            v.value,
            count(*) OVER (PARTITION BY v.dimension) AS k,
            row_number() OVER (PARTITION BY v.dimension ORDER BY v.value) AS pos,
            coalesce(sp.win_probability, sb.win_probability) AS win_probability
        FROM genome.element_values AS v
        INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'element'
        LEFT JOIN genome.creative_element_scores AS sb
            ON sb.brand_id = p_brand_id AND sb.product_id IS NULL
            AND sb.element_dimension = v.dimension AND sb.element_value = v.value
        LEFT JOIN genome.creative_element_scores AS sp
            ON p_product_id IS NOT NULL AND sp.brand_id = p_brand_id AND sp.product_id = p_product_id
            AND sp.element_dimension = v.dimension AND sp.element_value = v.value
        WHERE NOT v_fixed ? v.dimension
    ),

    probabilities AS (
        -- Without scores yet every value is equally likely to win the draw.
        SELECT
            c.*,
            coalesce(c.win_probability, 1.0 / c.k)
            / sum(coalesce(c.win_probability, 1.0 / c.k)) OVER (PARTITION BY c.dimension) AS p_win
        FROM candidates AS c
    ),

    cumulative AS (
        SELECT
            p.*,
            sum(p.p_win) OVER (
                PARTITION BY p.dimension ORDER BY p.value ROWS UNBOUNDED PRECEDING
            ) AS cum
        FROM probabilities AS p
    ),

    draws AS (
        -- genome._uniform written out: a SQL function with a pinned search_path is not
        -- inlined, and this runs once per dimension on the hot path.
        SELECT
            d.dimension,
            CASE WHEN p_seed IS NULL THEN random()
                 ELSE ('x' || substr(md5(p_seed::text || ':' || d.dimension || ':explore'), 1, 8))::bit(32)::bigint / 4294967296.0 END
                < v_explore AS exploratory,
            CASE WHEN p_seed IS NULL THEN random()
                 ELSE ('x' || substr(md5(p_seed::text || ':' || d.dimension || ':pick'), 1, 8))::bit(32)::bigint / 4294967296.0 END
                AS u
        FROM (SELECT DISTINCT c.dimension FROM candidates AS c) AS d
    ),

    picks AS (
        SELECT DISTINCT ON (c.dimension)
            c.dimension,
            c.value,
            dr.exploratory,
            v_explore / c.k + (1.0 - v_explore) * c.p_win AS propensity
        FROM cumulative AS c
        INNER JOIN draws AS dr ON dr.dimension = c.dimension
        WHERE CASE
            -- Exploration: uniform over the values.
            WHEN dr.exploratory THEN c.pos = 1 + floor(dr.u * c.k)
            -- Exploitation: the value whose win-probability interval holds u, which is
            -- a Thompson draw in distribution.
            ELSE c.cum >= dr.u OR c.pos = c.k
        END
        ORDER BY c.dimension, c.pos
    ),

    fixed AS (
        SELECT
            f.key AS dimension,
            f.value #>> '{}' AS value,
            false AS exploratory,
            1.0::double precision AS propensity
        FROM jsonb_each(v_fixed) AS f
    ),

    chosen AS (
        SELECT * FROM picks
        UNION ALL
        SELECT * FROM fixed
    )

    SELECT jsonb_build_object(
        'element_tags', jsonb_object_agg(ch.dimension, ch.value),
        'propensities', jsonb_object_agg(ch.dimension, round(ch.propensity::numeric, 6)),
        'exploratory', jsonb_object_agg(ch.dimension, ch.exploratory),
        'fixed', coalesce((SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(v_fixed) AS k), '[]'),
        'bandit_selected', true,
        'exploration_rate', v_explore,
        'matured_ads', v_matured,
        'cold_start_level', v_level,
        'genome_version', v_version
    )
    INTO v_result
    FROM chosen AS ch;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION genome.select_elements(uuid, uuid, timestamptz, bigint, jsonb) IS
'Thompson sampling per element dimension (one round trip). With probability exploration_rate (from the matured-ad count of the current genome version) a value is drawn uniformly, else by the probability each value wins a Thompson draw (stored by update_scores at the current genome version: the product''s scores where it has them, else the brand''s). Returns element_tags, propensities (probability the chosen value would be chosen: e/|values| + (1-e) P(win)), exploratory flags, exploration_rate, matured_ads, cold_start_level and genome_version. p_seed makes the draw reproducible; p_fixed forces dimensions (propensity 1). GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product, GN004 bad p_now; GN100/GN101 bad p_fixed.';

CREATE OR REPLACE FUNCTION genome.pre_gen_score(
    p_brand_id uuid,
    p_product_id uuid,
    p_element_tags jsonb
)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_tags jsonb;
    v_score numeric;
BEGIN
    PERFORM genome._check_brand_product(p_brand_id, p_product_id);
    v_tags := genome.normalize_tags(p_element_tags);
    SELECT round((
        sum(d.strategic_weight * coalesce(
            sp.posterior_alpha / (sp.posterior_alpha + sp.posterior_beta),
            sb.posterior_alpha / (sb.posterior_alpha + sb.posterior_beta),
            0.5
        )) / nullif(sum(d.strategic_weight), 0)
    )::numeric, 4)
    INTO v_score
    FROM jsonb_each_text(v_tags) AS t
    INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
    LEFT JOIN genome.creative_element_scores AS sb
        ON sb.brand_id = p_brand_id AND sb.product_id IS NULL
        AND sb.element_dimension = t.key AND sb.element_value = t.value
    LEFT JOIN genome.creative_element_scores AS sp
        ON p_product_id IS NOT NULL AND sp.brand_id = p_brand_id AND sp.product_id = p_product_id
        AND sp.element_dimension = t.key AND sp.element_value = t.value;
    RETURN v_score;
END
$$;
COMMENT ON FUNCTION genome.pre_gen_score(uuid, uuid, jsonb) IS
'Pre-generation score of planned elements (docs/learning.md#pre-generation-score): strategic-weight-weighted mean of each element value''s posterior mean (0.5 where nothing is known), in [0,1]; NULL when no element dimension is tagged. GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product, GN100/GN101 bad tags.';
