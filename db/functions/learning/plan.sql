-- Planning: one generated_ads row (and one 'generate' job) per ad, all n ads set-based.

-- Planning queues its ads' generate jobs as one batch (genome._enqueue_jobs) in plan_ads.
DROP FUNCTION IF EXISTS genome._on_ad_planned(uuid, jsonb);

CREATE OR REPLACE FUNCTION genome._plan_selections(
    p_brand_id uuid,
    p_product_id uuid,
    p_n integer,
    p_seed bigint,
    p_fixed jsonb
)
RETURNS jsonb []
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_fixed jsonb := '{}'::jsonb;
    v_state record;
    v_explore double precision;
    v_table record;
    v_fixed_props jsonb := '{}'::jsonb;
    v_fixed_flags jsonb := '{}'::jsonb;
    v_fixed_keys jsonb := '[]'::jsonb;
    v_out jsonb [];
BEGIN
    -- The draws of select_elements(brand, product, now, p_seed + i, p_fixed) for i = 0 ..
    -- n - 1 (docs/learning.md#selection): the genome state, the exploration rate and the
    -- draw table are read once for the plan
    -- (plan_ads counts the plan's ads in the state only after all are drawn, so every ad
    -- of one plan has the same exploration rate, as when they were drawn one by one).
    IF p_fixed IS NOT NULL AND p_fixed <> '{}'::jsonb THEN
        v_fixed := genome.normalize_tags(p_fixed);
        SELECT jsonb_object_agg(f.key, 1.000000), jsonb_object_agg(f.key, false), jsonb_agg(f.key ORDER BY f.key)
        INTO v_fixed_props, v_fixed_flags, v_fixed_keys
        FROM jsonb_object_keys(v_fixed) AS f (key);
    END IF;
    SELECT
        coalesce(gs.matured_ads, 0) AS matured, coalesce(gs.planned_ads, 0) AS planned,
        coalesce(gs.cold_start_level, 0) AS level, coalesce(gs.genome_version, 0) AS version
    INTO v_state
    FROM (SELECT 1) AS one
    LEFT JOIN genome.genome_state AS gs ON gs.brand_id = p_brand_id;
    v_explore := genome.exploration_rate(v_state.matured, v_state.planned);
    -- A product with scores of its own has its own table; otherwise it draws from its brand's.
    SELECT
        st.dimensions, st.starts, st.sizes, st.element_values, st.p_win, st.cumulative, st.blocks,
        st.posterior_means, st.strategic_weights
    INTO v_table
    FROM genome.selection_tables AS st
    WHERE st.brand_id = p_brand_id AND (st.product_id IS NULL OR st.product_id = p_product_id)
    ORDER BY st.product_id NULLS LAST
    LIMIT 1;
    IF NOT FOUND THEN
        SELECT
            l.dimensions, l.starts, l.sizes, l.element_values, l.p_win, l.cumulative, l.blocks,
            l.posterior_means, l.strategic_weights
        INTO v_table
        FROM genome._selection_table_rows(ARRAY[p_brand_id], ARRAY[p_product_id]) AS l;
    END IF;

    -- Each ad's draw as select_elements makes it (genome._draw_selection), the table read once.
    SELECT array_agg(jsonb_build_object(
        'element_tags', CASE WHEN v_fixed = '{}'::jsonb THEN d.element_tags ELSE coalesce(d.element_tags, '{}'::jsonb) || v_fixed END,
        'propensities', CASE
            WHEN v_fixed = '{}'::jsonb THEN d.propensities
            ELSE coalesce(d.propensities, '{}'::jsonb) || v_fixed_props
        END,
        'exploratory', CASE WHEN v_fixed = '{}'::jsonb THEN d.exploratory ELSE coalesce(d.exploratory, '{}'::jsonb) || v_fixed_flags END,
        'fixed', v_fixed_keys,
        'bandit_selected', true,
        'exploration_rate', v_explore,
        'matured_ads', v_state.matured,
        'cold_start_level', v_state.level,
        'genome_version', v_state.version,
        -- (plan_ads' score of the ad, not part of the selection it stores)
        'pre_gen_score', d.pre_gen_score
    ) ORDER BY a.i)
    INTO v_out
    FROM generate_series(0, p_n - 1) AS a (i)
    CROSS JOIN LATERAL genome._draw_selection(
        v_table.dimensions, v_table.starts, v_table.sizes, v_table.element_values, v_table.p_win,
        v_table.cumulative, v_table.blocks, v_explore, p_seed + a.i, v_fixed,
        v_table.posterior_means, v_table.strategic_weights
    ) AS d;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION genome._plan_selections(uuid, uuid, integer, bigint, jsonb) IS
'Internal (plan_ads): the selections of n ads, element i as select_elements(brand, product, now, p_seed + i, p_fixed) returns it (the same draws, propensities and flags; random draws when p_seed is NULL) with pre_gen_score, the ad''s genome.pre_gen_score over its element values, drawn by genome._draw_selection from the draw table read once (docs/learning.md#selection, docs/learning.md#pre-generation-score).';

-- The context argument came after the first release of plan_ads: its older signature goes.
DROP FUNCTION IF EXISTS genome.plan_ads(uuid, integer, timestamptz, bigint, jsonb, text);

CREATE OR REPLACE FUNCTION genome.plan_ads(
    p_ad_run_id uuid,
    p_n integer,
    p_now timestamptz DEFAULT now(),
    p_seed bigint DEFAULT NULL,
    p_fixed jsonb DEFAULT '{}',
    p_canvas_size text DEFAULT '1080x1080px',
    p_context jsonb DEFAULT '{}'
)
RETURNS SETOF uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_run record;
    v_brand uuid;
    v_canvas text;
    v_next_index integer;
    v_selections jsonb [];
    v_ids uuid [];
    v_config jsonb;
    v_assign jsonb;
    v_context jsonb;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_run(p_ad_run_id);
    IF p_n IS NULL OR p_n < 1 OR p_n > 100 THEN
        RAISE EXCEPTION 'n must be between 1 and 100, got %', coalesce(p_n::text, 'NULL')
            USING ERRCODE = 'GN011';
    END IF;
    -- The row lock serialises concurrent planning of one run, so the cap holds exactly.
    SELECT r.* INTO v_run FROM public.ad_runs AS r WHERE r.id = p_ad_run_id FOR UPDATE;
    IF v_run.attempts_count + p_n > v_run.max_attempts THEN
        RAISE EXCEPTION 'ad_run % has used % of its % generation attempts; cannot plan % more',
            p_ad_run_id, v_run.attempts_count, v_run.max_attempts, p_n
            USING ERRCODE = 'GN012',
                  HINT = 'runs cap attempts (model calls), not approvals; raise ad_runs.max_attempts or start a new run';
    END IF;
    SELECT p.brand_id INTO v_brand FROM public.products AS p WHERE p.id = v_run.product_id;
    v_canvas := genome._try_resolve_value('canvas_size', p_canvas_size);
    IF v_canvas IS NULL THEN
        RAISE EXCEPTION 'unknown canvas_size "%"', p_canvas_size USING ERRCODE = 'GN101';
    END IF;
    -- docs/learning.md#context-from-the-app: the run's audience, as the app targets it.
    v_context := genome._context_tags(p_context);

    -- docs/experiments.md#generation-ab-tests: every run records the versions it was planned with.
    v_config := jsonb_build_object(
        'prompt_template_version', coalesce(v_run.generation_config ->> 'prompt_template_version', 'v2.0'),
        'pipeline_version', coalesce(v_run.generation_config ->> 'pipeline_version', v_run.pipeline_version, 'v2'),
        'review_rubric_version', coalesce(
            v_run.generation_config ->> 'review_rubric_version',
            (SELECT c.version FROM genome.quality_scoring_config AS c
             INNER JOIN public.brands AS b ON b.organization_id = c.organization_id
             WHERE b.id = v_brand AND c.is_active AND (c.brand_id IS NULL OR c.brand_id = v_brand)
             ORDER BY c.brand_id NULLS LAST LIMIT 1)
        ),
        'genome_scores_version', coalesce(
            (SELECT gs.genome_version FROM genome.genome_state AS gs WHERE gs.brand_id = v_brand), 0
        )
    );

    -- docs/experiments.md#generation-ab-tests: a run of a brand with an active generation A/B test gets its arm's config
    -- (the arm's keys override the defaults, e.g. prompt_template_version).
    v_assign := genome._generation_assignment(p_ad_run_id);
    IF v_assign IS NOT NULL THEN
        v_config := v_config || (v_assign -> 'config')
            || jsonb_build_object('generation_experiment', v_assign - 'config');
    END IF;

    SELECT coalesce(max(g.prompt_index), 0) + 1 INTO v_next_index
    FROM public.generated_ads AS g
    WHERE g.ad_run_id = p_ad_run_id AND coalesce(g.canvas_size, 'default') = v_canvas;
    IF v_next_index + p_n - 1 > 100 THEN
        RAISE EXCEPTION 'ad_run % has no room for % more prompts of size % (prompt_index is 1-100)',
            p_ad_run_id, p_n, v_canvas USING ERRCODE = 'GN012';
    END IF;

    -- The attempts are counted before the ads' generate jobs are queued: enqueue_job
    -- accepts a generate job only within the run's counted attempts.
    UPDATE public.ad_runs AS r
    SET attempts_count = r.attempts_count + p_n,
        generation_config = coalesce(r.generation_config, '{}'::jsonb) || v_config,
        status = CASE WHEN r.status = 'pending' THEN 'generating' ELSE r.status END
    WHERE r.id = p_ad_run_id;

    -- One statement draws every ad's elements, one INSERT writes the ads, one batch queues
    -- their generate jobs (docs/learning.md#selection, docs/operations.md#batches).
    v_selections := genome._plan_selections(v_brand, v_run.product_id, p_n, p_seed, p_fixed);
    WITH planned AS (
        SELECT
            s.i,
            s.selection,
            (s.selection -> 'element_tags') || v_context || jsonb_build_object('canvas_size', v_canvas) AS tags
        FROM unnest(v_selections) WITH ORDINALITY AS s (selection, i)
    ),

    inserted AS (
        INSERT INTO public.generated_ads (
            ad_run_id, prompt_index, canvas_size, color_mode, final_status, element_tags,
            element_propensities, element_tags_source, bandit_selected, pre_gen_score,
            genome_version, prompt_version, created_at
        )
        SELECT
            p_ad_run_id,
            v_next_index + pl.i::integer - 1,
            v_canvas,
            pl.tags ->> 'color_mode',
            'pending',
            pl.tags,
            pl.selection - 'element_tags' - 'pre_gen_score',
            'plan',
            true,
            -- Scored from the draw table it was drawn from (docs/learning.md#pre-generation-score).
            (pl.selection ->> 'pre_gen_score')::numeric,
            (pl.selection ->> 'genome_version')::integer,
            v_config ->> 'prompt_template_version',
            p_now
        FROM planned AS pl
        ORDER BY pl.i
        RETURNING id, prompt_index
    )

    SELECT array_agg(ins.id ORDER BY ins.prompt_index) INTO v_ids FROM inserted AS ins;
    -- The single place where planning hands its ads to the agents (same transaction).
    PERFORM genome._enqueue_jobs(
        'generate', v_ids,
        array_fill(jsonb_build_object('genome_version', v_selections[1] -> 'genome_version'), ARRAY[p_n]),
        now(), true
    );
    RETURN QUERY SELECT u.id FROM unnest(v_ids) AS u (id);

    INSERT INTO genome.genome_state AS gs (
        brand_id, organization_id, genome_version, cold_start_level, planned_ads, updated_at
    )
    SELECT b.id, b.organization_id, 0, 0, p_n, p_now
    FROM public.brands AS b
    WHERE b.id = v_brand
    ON CONFLICT (brand_id) DO UPDATE SET planned_ads = gs.planned_ads + p_n;
END
$$;
COMMENT ON FUNCTION genome.plan_ads(uuid, integer, timestamptz, bigint, jsonb, text, jsonb) IS
'Plans n ads of a run: for each, elements by select_elements (p_fixed forces dimensions, e.g. an experiment''s test variable), one generated_ads row (element_tags with the run''s audience context p_context merged in, docs/learning.md#context-from-the-app; propensities, pre_gen_score, genome_version, prompt_version) and its generate job, in one transaction; counts attempts on the run and records the run''s versions in generation_config. GN005 NULL run, GN010 unknown run, GN011 n outside 1-100, GN012 beyond the run''s attempts cap (attempts, not approvals) or prompt_index range, GN100/GN101 malformed context (a non-context dimension, an unknown value), GN101 unknown canvas size, GN414 the organization already has settings max_queued_jobs_per_organization jobs queued (nothing is planned).';
