-- APPLY (docs/learning.md#selection): Thompson sampling per element dimension, with exploration.

-- The seeded uniform is written out in genome._draw_selection, its one user since plan_ads
-- draws through it too.
DROP FUNCTION IF EXISTS genome._uniform(bigint, text);

CREATE OR REPLACE FUNCTION genome._exploration_rate(
    p_matured_ads integer, p_planned_ads integer, p_settings double precision []
)
RETURNS double precision
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    -- p_settings: the floor (exploration_floor, or learner_exploration_floor under the joint
    -- learner), the start (exploration_start, or learner_exploration_start), exploration_scale,
    -- forced_exploration_ads, forced_exploration_rate (read once by the caller).
    RETURN CASE
        WHEN p_planned_ads < p_settings[4]
            THEN greatest(p_settings[5], p_settings[1], p_settings[2] * exp(-p_matured_ads / p_settings[3]))
        ELSE greatest(p_settings[1], p_settings[2] * exp(-p_matured_ads / p_settings[3]))
    END;
END
$$;
COMMENT ON FUNCTION genome._exploration_rate(integer, integer, double precision []) IS
'Internal: the exploration rate formula of genome.exploration_rate with its five settings given (the floor: exploration_floor or learner_exploration_floor, the start: exploration_start or learner_exploration_start, exploration_scale, forced_exploration_ads, forced_exploration_rate), so select_elements reads the settings in one query.';

CREATE OR REPLACE FUNCTION genome._exploration_settings()
RETURNS double precision []
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_found jsonb;
    v_keys text [];
    v double precision [];
    v_missing integer;
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call,
    -- which cost select_elements more than its draw. One read of every key it may need:
    -- a query each through genome._setting cost select_elements' hot path about 30 us more.
    SELECT jsonb_object_agg(s.key, s.value) INTO v_found
    FROM genome.settings AS s
    WHERE s.key = ANY (ARRAY[
        'learner', 'learner_exploration_floor', 'learner_exploration_start', 'exploration_floor',
        'exploration_start', 'exploration_scale', 'forced_exploration_ads', 'forced_exploration_rate'
    ]);
    v_keys := CASE coalesce(v_found ->> 'learner', genome._setting_text('learner'))
        -- The joint learner's Thompson draws explore by themselves: its own floor and
        -- start (docs/learning.md#exploration).
        WHEN 'joint_logistic' THEN ARRAY['learner_exploration_floor', 'learner_exploration_start']
        ELSE ARRAY['exploration_floor', 'exploration_start']
    END || ARRAY['exploration_scale', 'forced_exploration_ads', 'forced_exploration_rate'];
    v := ARRAY[
        (v_found -> v_keys[1])::text::double precision, (v_found -> v_keys[2])::text::double precision,
        (v_found -> v_keys[3])::text::double precision, (v_found -> v_keys[4])::text::double precision,
        (v_found -> v_keys[5])::text::double precision
    ];
    -- GN090 for a missing one, through the one reader of the settings.
    v_missing := array_position(v, NULL);
    IF v_missing IS NOT NULL THEN
        PERFORM genome._setting(v_keys[v_missing]);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION genome._exploration_settings() IS
'Internal: the five settings of the exploration rate in the order genome._exploration_rate takes them: the floor and the start (learner_exploration_floor and learner_exploration_start when the setting learner is joint_logistic, else exploration_floor and exploration_start), exploration_scale, forced_exploration_ads, forced_exploration_rate. One reader for exploration_rate, select_elements and plan_ads; GN090 for a missing one.';

CREATE OR REPLACE FUNCTION genome.exploration_rate(p_matured_ads integer, p_planned_ads integer)
RETURNS double precision
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call.
    RETURN genome._exploration_rate(p_matured_ads, p_planned_ads, genome._exploration_settings());
END
$$;
COMMENT ON FUNCTION genome.exploration_rate(integer, integer) IS
'exploration_boost = max(floor, start * exp(-matured / exploration_scale)) (scale 100): the floor exploration_floor (0.05) and the start exploration_start (0.30), or learner_exploration_floor (0) and learner_exploration_start (0) when the setting learner is joint_logistic, and at least forced_exploration_rate (30%) while the brand has planned fewer than forced_exploration_ads (30) ads (docs/learning.md#exploration).';

-- Before blocks of dimensions drawn together (docs/learning.md#interactions).
DROP FUNCTION IF EXISTS genome._selection_table_rows(uuid [], uuid []);
CREATE OR REPLACE FUNCTION genome._selection_table_rows(p_brand_ids uuid [], p_product_ids uuid [])
RETURNS TABLE (
    brand_id uuid,
    product_id uuid,
    dimensions text [],
    starts integer [],
    sizes integer [],
    element_values text [],
    p_win double precision [],
    cumulative double precision [],
    blocks integer [],
    posterior_means double precision [],
    strategic_weights double precision []
)
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    -- Set-based over the scopes (brand, product or NULL), so update_scores builds every
    -- brand's table in one statement and select_elements' fallback one in the same way.
    RETURN QUERY
    WITH scopes AS (
        SELECT DISTINCT sc.brand_id, sc.product_id
        FROM unnest(p_brand_ids, p_product_ids) AS sc (brand_id, product_id)
    ),

    registry AS (
        SELECT
            v.dimension,
            v.value,
            count(*) OVER (PARTITION BY v.dimension) AS k,
            d.strategic_weight::double precision AS weight
        FROM genome.element_values AS v
        INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'element'
    ),

    -- Every value of every scope with its scores: the product's where it has a row, else the
    -- brand's. The posterior mean as genome.pre_gen_score reads it (0.5 without a row).
    scored AS (
        SELECT
            sc.brand_id,
            sc.product_id,
            r.dimension,
            r.value,
            r.k,
            coalesce(sp.win_probability, sb.win_probability) AS win_probability,
            coalesce(
                sp.posterior_alpha / (sp.posterior_alpha + sp.posterior_beta),
                sb.posterior_alpha / (sb.posterior_alpha + sb.posterior_beta),
                0.5
            ) AS mean
        FROM scopes AS sc
        CROSS JOIN registry AS r
        LEFT JOIN genome.creative_element_scores AS sb
            ON sb.brand_id = sc.brand_id AND sb.product_id IS NULL
            AND sb.element_dimension = r.dimension AND sb.element_value = r.value
        LEFT JOIN genome.creative_element_scores AS sp
            ON sc.product_id IS NOT NULL AND sp.brand_id = sc.brand_id AND sp.product_id = sc.product_id
            AND sp.element_dimension = r.dimension AND sp.element_value = r.value
    ),

    -- A later dimension of a block (docs/learning.md#interactions): its brand's rows of the
    -- current genome version, one run per combination of its block's earlier values, used
    -- only when every run of the registry's values is there.
    conditional AS (
        SELECT sc.brand_id, sc.product_id, c.element_dimension AS dimension, c.given_dimensions,
            c.given_values, c.element_value AS value, c.win_probability
        FROM scopes AS sc
        INNER JOIN genome.genome_state AS gs ON gs.brand_id = sc.brand_id
        INNER JOIN genome.learner_conditional_wins AS c
            ON c.brand_id = sc.brand_id AND c.genome_version = gs.genome_version
        INNER JOIN registry AS r ON r.dimension = c.element_dimension AND r.value = c.element_value
    ),

    complete AS (
        SELECT c.brand_id, c.product_id, c.dimension, min(c.given_dimensions) AS given_dimensions
        FROM conditional AS c
        GROUP BY c.brand_id, c.product_id, c.dimension
        HAVING count(*) = (
            SELECT exp(sum(ln(g.k)))::bigint
            FROM (SELECT DISTINCT r.dimension, r.k FROM registry AS r) AS g
            WHERE g.dimension = c.dimension OR g.dimension = ANY (min(c.given_dimensions))
        ) AND count(DISTINCT c.given_dimensions) = 1
    ),

    candidates AS (
        SELECT
            v.brand_id,
            v.product_id,
            v.dimension,
            '{}'::text [] AS run,
            v.value,
            v.k,
            v.win_probability,
            v.mean
        FROM scored AS v
        WHERE NOT EXISTS (
            SELECT 1 FROM complete AS cp
            WHERE cp.brand_id = v.brand_id AND cp.product_id IS NOT DISTINCT FROM v.product_id
              AND cp.dimension = v.dimension
        )
        UNION ALL
        SELECT c.brand_id, c.product_id, c.dimension, c.given_values, c.value, v.k, c.win_probability, v.mean
        FROM conditional AS c
        INNER JOIN complete AS cp
            ON cp.brand_id = c.brand_id AND cp.product_id IS NOT DISTINCT FROM c.product_id
            AND cp.dimension = c.dimension
        INNER JOIN scored AS v
            ON v.brand_id = c.brand_id AND v.product_id IS NOT DISTINCT FROM c.product_id
            AND v.dimension = c.dimension AND v.value = c.value
    ),

    probabilities AS (
        -- Without scores yet every value is equally likely to win the draw.
        SELECT
            c.*,
            coalesce(c.win_probability, 1.0 / c.k)
            / sum(coalesce(c.win_probability, 1.0 / c.k))
                OVER (PARTITION BY c.brand_id, c.product_id, c.dimension, c.run) AS p_win
        FROM candidates AS c
    ),

    cumulative AS (
        -- Dimensions in code-point order, as the joint learner orders a block's dimensions;
        -- a later dimension of a block in runs ordered by its earlier values.
        SELECT
            p.*,
            sum(p.p_win) OVER (
                PARTITION BY p.brand_id, p.product_id, p.dimension, p.run ORDER BY p.value
                ROWS UNBOUNDED PRECEDING
            ) AS cum,
            row_number() OVER (
                PARTITION BY p.brand_id, p.product_id ORDER BY p.dimension COLLATE "C", p.run, p.value
            )::integer AS position
        FROM probabilities AS p
    ),

    per_dimension AS (
        SELECT
            c.brand_id, c.product_id, c.dimension, min(c.position) AS start, max(c.k)::integer AS k,
            rank() OVER (PARTITION BY c.brand_id, c.product_id ORDER BY c.dimension COLLATE "C")::integer AS place,
            (SELECT max(r.weight) FROM registry AS r WHERE r.dimension = c.dimension) AS weight
        FROM cumulative AS c
        GROUP BY c.brand_id, c.product_id, c.dimension
    ),

    dims AS (
        SELECT
            g.brand_id,
            g.product_id,
            array_agg(g.dimension ORDER BY g.dimension COLLATE "C") AS dimensions,
            array_agg(g.start ORDER BY g.dimension COLLATE "C") AS starts,
            array_agg(g.k ORDER BY g.dimension COLLATE "C") AS sizes,
            array_agg(g.weight ORDER BY g.dimension COLLATE "C") AS weights,
            -- The place of the block's first dimension: a later one names its first given
            -- dimension, a first one itself (when a later one names it).
            CASE WHEN bool_or(head.place IS NOT NULL OR tail.dimension IS NOT NULL) THEN
                array_agg(coalesce(head.place, CASE WHEN tail.dimension IS NOT NULL THEN g.place END, 0)
                    ORDER BY g.dimension COLLATE "C")
            END AS blocks
        FROM per_dimension AS g
        LEFT JOIN complete AS cp
            ON cp.brand_id = g.brand_id AND cp.product_id IS NOT DISTINCT FROM g.product_id
            AND cp.dimension = g.dimension
        LEFT JOIN per_dimension AS head
            ON head.brand_id = g.brand_id AND head.product_id IS NOT DISTINCT FROM g.product_id
            AND head.dimension = cp.given_dimensions[1]
        LEFT JOIN LATERAL (
            SELECT t.dimension FROM complete AS t
            WHERE t.brand_id = g.brand_id AND t.product_id IS NOT DISTINCT FROM g.product_id
              AND t.given_dimensions[1] = g.dimension
            LIMIT 1
        ) AS tail ON true
        GROUP BY g.brand_id, g.product_id
    ),

    flat AS (
        SELECT
            c.brand_id,
            c.product_id,
            array_agg(c.value ORDER BY c.position) AS element_values,
            array_agg(c.p_win ORDER BY c.position) AS p_win,
            array_agg(c.cum ORDER BY c.position) AS cumulative,
            array_agg(c.mean ORDER BY c.position) AS means
        FROM cumulative AS c
        GROUP BY c.brand_id, c.product_id
    )

    SELECT
        f.brand_id, f.product_id, d.dimensions, d.starts, d.sizes,
        f.element_values, f.p_win, f.cumulative, d.blocks, f.means, d.weights
    FROM flat AS f
    INNER JOIN dims AS d
        ON d.brand_id = f.brand_id AND d.product_id IS NOT DISTINCT FROM f.product_id;
END
$$;
COMMENT ON FUNCTION genome._selection_table_rows(uuid [], uuid []) IS
'Internal: the draw table of each scope (p_brand_ids[i], p_product_ids[i] or NULL for the brand level) from the scores, in the layout of genome.selection_tables: the element dimensions of the registry in code-point order, each one''s values in order with the probability each wins the Thompson draw (the product''s win_probability where it has one, else the brand''s, 1/k without either; normalised) and the running sum; a later dimension of a block of the joint learner (genome.learner_conditional_wins at the brand''s current genome version, when complete) one run per combination of its block''s earlier values, and blocks naming each dimension''s block; per position the value''s posterior mean and per dimension its strategic weight, from which plan_ads scores its ads (docs/learning.md#selection, docs/learning.md#interactions, docs/learning.md#pre-generation-score).';

DROP FUNCTION IF EXISTS genome._update_scores_selection_tables();
CREATE OR REPLACE FUNCTION genome._update_scores_selection_tables(p_brands uuid [] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_brands uuid [];
    v_products uuid [];
    v_rows integer;
BEGIN
    -- The scopes: every brand of p_brands (NULL: all) with scores, and each of its products
    -- with rows of its own.
    SELECT
        array_agg(sc.brand_id ORDER BY sc.brand_id, sc.product_id),
        array_agg(sc.product_id ORDER BY sc.brand_id, sc.product_id)
    INTO v_brands, v_products
    FROM (
        SELECT DISTINCT s.brand_id, NULL::uuid AS product_id FROM genome.creative_element_scores AS s
        WHERE p_brands IS NULL OR s.brand_id = ANY (p_brands)
        UNION
        SELECT DISTINCT s.brand_id, s.product_id FROM genome.creative_element_scores AS s
        WHERE s.product_id IS NOT NULL AND (p_brands IS NULL OR s.brand_id = ANY (p_brands))
    ) AS sc;
    DELETE FROM genome.selection_tables AS st WHERE p_brands IS NULL OR st.brand_id = ANY (p_brands);
    INSERT INTO genome.selection_tables (
        organization_id, brand_id, product_id, dimensions, starts, sizes, element_values, p_win,
        cumulative, blocks, posterior_means, strategic_weights
    )
    SELECT
        b.organization_id, t.brand_id, t.product_id, t.dimensions, t.starts, t.sizes,
        t.element_values, t.p_win, t.cumulative, t.blocks, t.posterior_means, t.strategic_weights
    FROM genome._selection_table_rows(coalesce(v_brands, '{}'), coalesce(v_products, '{}')) AS t
    INNER JOIN public.brands AS b ON b.id = t.brand_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_selection_tables(uuid []) IS
'Internal step of update_scores, after the win probabilities: rebuilds genome.selection_tables for every brand of p_brands (NULL: all) with scores (its brand level and each product with scores of its own), the table select_elements draws from (docs/learning.md#selection). Returns the rows written.';

CREATE OR REPLACE FUNCTION genome._selection_tables_stale()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- A change to the registry makes every stored draw table stale; select_elements computes
    -- them from the scores until update_scores writes them again.
    -- (Under row-level security the app's own change reaches only its own brands' rows.)
    DELETE FROM genome.selection_tables;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._selection_tables_stale() IS
'Internal statement trigger on element_values and element_dimensions, and on a TRUNCATE of creative_element_scores: removes every stored draw table (genome.selection_tables) the change could make stale (docs/learning.md#selection).';

CREATE OR REPLACE FUNCTION genome._selection_tables_stale_brands()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- A change to scores makes the draw tables of the brands it touched stale, and only
    -- those: the other brands keep theirs (docs/learning.md#incremental-update). The changed
    -- rows come from the statement's transition table.
    IF TG_OP = 'INSERT' THEN
        DELETE FROM genome.selection_tables AS st
        WHERE st.brand_id IN (SELECT n.brand_id FROM new_rows AS n);
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM genome.selection_tables AS st
        WHERE st.brand_id IN (SELECT o.brand_id FROM old_rows AS o);
    ELSE
        DELETE FROM genome.selection_tables AS st
        WHERE st.brand_id IN (
            SELECT n.brand_id FROM new_rows AS n UNION SELECT o.brand_id FROM old_rows AS o
        );
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._selection_tables_stale_brands() IS
'Internal statement trigger on creative_element_scores (insert, update, delete, with transition tables): removes the stored draw tables (genome.selection_tables) of the brands whose scores the statement changed, and no other (docs/learning.md#selection).';

DROP TRIGGER IF EXISTS creative_element_scores_selection_stale ON genome.creative_element_scores;
CREATE OR REPLACE TRIGGER creative_element_scores_selection_stale_insert
AFTER INSERT ON genome.creative_element_scores
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale_brands();
CREATE OR REPLACE TRIGGER creative_element_scores_selection_stale_update
AFTER UPDATE ON genome.creative_element_scores
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale_brands();
CREATE OR REPLACE TRIGGER creative_element_scores_selection_stale_delete
AFTER DELETE ON genome.creative_element_scores
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale_brands();
CREATE OR REPLACE TRIGGER creative_element_scores_selection_stale_truncate
AFTER TRUNCATE ON genome.creative_element_scores
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale();
CREATE OR REPLACE TRIGGER element_values_selection_stale
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.element_values
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale();
CREATE OR REPLACE TRIGGER element_dimensions_selection_stale
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genome.element_dimensions
FOR EACH STATEMENT EXECUTE FUNCTION genome._selection_tables_stale();

-- The pre-generation score came after the first release of the draw: its older signature goes.
DROP FUNCTION IF EXISTS genome._draw_selection(
    text [], integer [], integer [], text [], double precision [], double precision [], integer [],
    double precision, bigint, jsonb
);
CREATE OR REPLACE FUNCTION genome._draw_selection(
    p_dimensions text [],
    p_starts integer [],
    p_sizes integer [],
    p_element_values text [],
    p_p_win double precision [],
    p_cumulative double precision [],
    p_blocks integer [],
    p_explore double precision,
    p_seed bigint,
    p_fixed jsonb,
    p_posterior_means double precision [] DEFAULT NULL,
    p_strategic_weights double precision [] DEFAULT NULL,
    OUT element_tags jsonb,
    OUT propensities jsonb,
    OUT exploratory jsonb,
    OUT pre_gen_score numeric
)
LANGUAGE plpgsql
VOLATILE
SET search_path = genome, public
AS $$
DECLARE
    v_dim text;
    v_lo integer;
    v_k integer;
    v_block integer;
    v_runs integer [];
    v_u double precision;
    v_exploratory boolean;
    v_at integer;
    v_keys text [];
    v_values text [];
    v_props text [];
    v_flags text [];
    v_weighted double precision := 0;
    v_weights double precision := 0;
BEGIN
    -- One ad's draw from a draw table (docs/learning.md#selection), the dimensions in the
    -- table's order; p_fixed's dimensions are skipped (the caller adds them). A later
    -- dimension of a block draws from the run of its block's values drawn so far
    -- (docs/learning.md#interactions): v_runs[block] is that run's number, row-major.
    FOR i IN 1 .. coalesce(cardinality(p_dimensions), 0) LOOP
        v_dim := p_dimensions[i];
        v_k := p_sizes[i];
        v_block := coalesce(p_blocks[i], 0);
        v_lo := p_starts[i] + CASE WHEN v_block > 0 THEN coalesce(v_runs[v_block], 0) * v_k ELSE 0 END;
        IF p_fixed ? v_dim THEN
            v_at := v_lo - 1 + array_position(p_element_values[v_lo:v_lo + v_k - 1], p_fixed ->> v_dim);
            IF v_block > 0 THEN
                v_runs[v_block] := coalesce(v_runs[v_block], 0) * v_k + (v_at - v_lo);
            END IF;
            -- A forced value counts in the score as any other (docs/learning.md#pre-generation-score).
            v_weighted := v_weighted + p_strategic_weights[i] * coalesce(p_posterior_means[v_at], 0.5);
            v_weights := v_weights + p_strategic_weights[i];
            CONTINUE;
        END IF;
        -- The seeded uniform written out (an md5 of seed and key): a SQL function with a
        -- pinned search_path is not inlined, and this runs twice per dimension.
        v_exploratory := CASE WHEN p_seed IS NULL THEN random()
            ELSE ('x' || substr(md5(p_seed::text || ':' || v_dim || ':explore'), 1, 8))::bit(32)::bigint / 4294967296.0
        END < p_explore;
        v_u := CASE WHEN p_seed IS NULL THEN random()
            ELSE ('x' || substr(md5(p_seed::text || ':' || v_dim || ':pick'), 1, 8))::bit(32)::bigint / 4294967296.0
        END;
        v_at := v_lo - 1 + CASE
            -- Exploration: uniform over the values.
            WHEN v_exploratory THEN 1 + floor(v_u * v_k)::integer
            WHEN v_k = 1 THEN 1
            -- Exploitation: the first value whose running sum of win probabilities reaches
            -- u (the last one if rounding leaves it short), a Thompson draw in
            -- distribution; width_bucket is a binary search over the running sums.
            ELSE 1 + width_bucket(v_u, p_cumulative[v_lo:v_lo + v_k - 2])
        END;
        IF v_block > 0 THEN
            v_runs[v_block] := coalesce(v_runs[v_block], 0) * v_k + (v_at - v_lo);
        END IF;
        v_weighted := v_weighted + p_strategic_weights[i] * p_posterior_means[v_at];
        v_weights := v_weights + p_strategic_weights[i];
        v_keys := v_keys || v_dim;
        v_values := v_values || p_element_values[v_at];
        v_props := v_props || (
            to_json(v_dim)::text || ':' || round((p_explore / v_k + (1.0 - p_explore) * p_p_win[v_at])::numeric, 6)
        );
        v_flags := v_flags || (to_json(v_dim)::text || ':' || v_exploratory::text);
    END LOOP;
    -- Each object built once from its pieces: three jsonb concatenations per dimension cost
    -- more than the draw.
    IF v_keys IS NOT NULL THEN
        element_tags := jsonb_object(v_keys, v_values);
        propensities := ('{' || array_to_string(v_props, ',') || '}')::jsonb;
        exploratory := ('{' || array_to_string(v_flags, ',') || '}')::jsonb;
    END IF;
    -- genome.pre_gen_score of the ad's element values, drawn and forced (NULL without the
    -- table's means and weights, or when no dimension weighs anything).
    pre_gen_score := round((v_weighted / nullif(v_weights, 0))::numeric, 4);
END
$$;
COMMENT ON FUNCTION genome._draw_selection(
    text [], integer [], integer [], text [], double precision [], double precision [], integer [],
    double precision, bigint, jsonb, double precision [], double precision []
) IS
'Internal (select_elements, plan_ads): one ad''s elements drawn from a draw table in the layout of genome.selection_tables: per dimension not in p_fixed, with probability p_explore a uniform value, else a Thompson draw by the running sums of win probabilities (a later dimension of a block from the run of the values its block drew before it: docs/learning.md#interactions); uniforms from md5 of p_seed, dimension and purpose, or random() when p_seed is NULL. Returns element_tags, propensities (p_explore / k + (1 - p_explore) p_win of the value drawn, given its block''s earlier values) and exploratory flags, NULL when no dimension was drawn, and with the table''s posterior means and strategic weights the ad''s pre-generation score over its drawn and forced values (genome.pre_gen_score''s value, docs/learning.md#pre-generation-score).';

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
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_fixed jsonb := '{}'::jsonb;
    v_valid boolean;
    v_matured integer;
    v_planned integer;
    v_level integer;
    v_version integer;
    v_settings double precision [];
    v_explore double precision;
    v_dims text [];
    v_starts integer [];
    v_sizes integer [];
    v_values text [];
    v_p_win double precision [];
    v_cumulative double precision [];
    v_blocks integer [];
    v_draw record;
    v_tags jsonb;
    v_propensities jsonb;
    v_flags jsonb;
    v_fixed_keys jsonb := '[]'::jsonb;
BEGIN
    -- The hot path is one query (the checks, the genome state, the exploration settings and
    -- the stored draw table) and a loop over the dimensions' arrays: a query per dimension
    -- would cost more to start than the draw costs. The shared checks raise only when
    -- something is off.
    SELECT
        b.id IS NOT NULL AND (p_product_id IS NULL OR EXISTS (
            SELECT 1 FROM public.products AS p WHERE p.id = p_product_id AND p.brand_id = b.id
        )),
        -- The matured-ad count is the one the current genome version was built from (as
        -- are the win probabilities), so the hot path reads one row instead of counting.
        coalesce(gs.matured_ads, 0), coalesce(gs.planned_ads, 0),
        coalesce(gs.cold_start_level, 0), coalesce(gs.genome_version, 0),
        -- the exploration settings through the shared reader, still in this one statement
        -- (GN090 for a missing one)
        genome._exploration_settings(),
        t.dimensions, t.starts, t.sizes, t.element_values, t.p_win, t.cumulative, t.blocks
    INTO v_valid, v_matured, v_planned, v_level, v_version, v_settings,
        v_dims, v_starts, v_sizes, v_values, v_p_win, v_cumulative, v_blocks
    FROM (SELECT 1) AS one
    LEFT JOIN public.brands AS b ON b.id = p_brand_id
    LEFT JOIN genome.genome_state AS gs ON gs.brand_id = p_brand_id
    -- A product with scores of its own has its own table; otherwise it draws from its brand's.
    LEFT JOIN LATERAL (
        SELECT st.*
        FROM genome.selection_tables AS st
        WHERE st.brand_id = p_brand_id AND (st.product_id IS NULL OR st.product_id = p_product_id)
        ORDER BY st.product_id NULLS LAST
        LIMIT 1
    ) AS t ON true;
    IF NOT v_valid THEN
        PERFORM genome._check_brand_product(p_brand_id, p_product_id);
    END IF;
    IF p_now IS NULL OR NOT isfinite(p_now) THEN
        PERFORM genome._require_now(p_now);
    END IF;
    IF p_fixed IS NOT NULL AND p_fixed <> '{}'::jsonb THEN
        v_fixed := genome.normalize_tags(p_fixed);
    END IF;
    v_explore := genome._exploration_rate(v_matured, v_planned, v_settings);
    IF v_dims IS NULL THEN
        -- No stored table (a change to the scores or the registry made it stale): the same
        -- table computed from the scores.
        SELECT l.dimensions, l.starts, l.sizes, l.element_values, l.p_win, l.cumulative, l.blocks
        INTO v_dims, v_starts, v_sizes, v_values, v_p_win, v_cumulative, v_blocks
        FROM genome._selection_table_rows(ARRAY[p_brand_id], ARRAY[p_product_id]) AS l;
    END IF;

    v_draw := genome._draw_selection(
        v_dims, v_starts, v_sizes, v_values, v_p_win, v_cumulative, v_blocks, v_explore, p_seed, v_fixed
    );
    v_tags := v_draw.element_tags;
    v_propensities := v_draw.propensities;
    v_flags := v_draw.exploratory;

    IF v_fixed <> '{}'::jsonb THEN
        -- Forced dimensions: propensity 1, never exploratory.
        SELECT
            coalesce(v_tags, '{}'::jsonb) || v_fixed,
            coalesce(v_propensities, '{}'::jsonb) || jsonb_object_agg(f.key, 1.000000),
            coalesce(v_flags, '{}'::jsonb) || jsonb_object_agg(f.key, false),
            jsonb_agg(f.key ORDER BY f.key)
        INTO v_tags, v_propensities, v_flags, v_fixed_keys
        FROM jsonb_object_keys(v_fixed) AS f (key);
    END IF;

    RETURN jsonb_build_object(
        'element_tags', v_tags,
        'propensities', v_propensities,
        'exploratory', v_flags,
        'fixed', v_fixed_keys,
        'bandit_selected', true,
        'exploration_rate', v_explore,
        'matured_ads', v_matured,
        'cold_start_level', v_level,
        'genome_version', v_version
    );
END
$$;
COMMENT ON FUNCTION genome.select_elements(uuid, uuid, timestamptz, bigint, jsonb) IS
'Thompson sampling per element dimension (one round trip). With probability exploration_rate (from the matured-ad count of the current genome version; its floor and start are learner_exploration_floor and learner_exploration_start under the joint learner, else exploration_floor and exploration_start) a value is drawn uniformly, else by the probability each value wins a Thompson draw (stored by update_scores at the current genome version: the product''s scores where it has them, else the brand''s), read from the draw tables update_scores stores (genome.selection_tables) or, when a change made them stale, computed from the scores. A later dimension of a block of the joint learner draws from its win probabilities given the values drawn before it (docs/learning.md#interactions). Returns element_tags, propensities (probability the chosen value would be chosen: e/|values| + (1-e) P(win), given its block''s earlier values), exploratory flags, exploration_rate, matured_ads, cold_start_level and genome_version. p_seed makes the draw reproducible; p_fixed forces dimensions (propensity 1). GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product, GN004 bad p_now; GN100/GN101 bad p_fixed.';

-- pre_gen_score reads the scores itself: its helpers served plan_ads, which now scores its
-- ads from the draw table (genome._draw_selection).
DROP FUNCTION IF EXISTS genome._pre_gen_score(uuid, uuid, jsonb);
DROP FUNCTION IF EXISTS genome._pre_gen_scores(uuid, uuid, jsonb []);

CREATE OR REPLACE FUNCTION genome.pre_gen_score(
    p_brand_id uuid,
    p_product_id uuid,
    p_element_tags jsonb
)
RETURNS numeric
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_tags jsonb;
BEGIN
    PERFORM genome._check_brand_product(p_brand_id, p_product_id);
    v_tags := genome.normalize_tags(p_element_tags);
    -- The same value as plan_ads' score from the draw table (genome._draw_selection with the
    -- table's posterior_means and strategic_weights; tests/test_plan.py holds the two equal).
    RETURN (SELECT round((
        sum(d.strategic_weight * coalesce(
            sp.posterior_alpha / (sp.posterior_alpha + sp.posterior_beta),
            sb.posterior_alpha / (sb.posterior_alpha + sb.posterior_beta),
            0.5
        )) / nullif(sum(d.strategic_weight), 0)
    )::numeric, 4)
    FROM jsonb_each_text(v_tags) AS t
    INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
    LEFT JOIN genome.creative_element_scores AS sb
        ON sb.brand_id = p_brand_id AND sb.product_id IS NULL
        AND sb.element_dimension = t.key AND sb.element_value = t.value
    LEFT JOIN genome.creative_element_scores AS sp
        ON p_product_id IS NOT NULL AND sp.brand_id = p_brand_id AND sp.product_id = p_product_id
        AND sp.element_dimension = t.key AND sp.element_value = t.value);
END
$$;
COMMENT ON FUNCTION genome.pre_gen_score(uuid, uuid, jsonb) IS
'Pre-generation score of planned elements (docs/learning.md#pre-generation-score): strategic-weight-weighted mean of each element value''s posterior mean (0.5 where nothing is known), in [0,1]; NULL when no element dimension is tagged. GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product, GN100/GN101 bad tags.';
