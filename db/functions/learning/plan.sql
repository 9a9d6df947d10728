-- Planning: one generated_ads row (and one 'generate' job) per ad.

CREATE OR REPLACE FUNCTION genome._on_ad_planned(p_generated_ad_id uuid, p_selection jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- The single place where planning hands an ad to the agents (same transaction).
    PERFORM genome.enqueue_job(
        'generate', p_generated_ad_id, jsonb_build_object('genome_version', p_selection -> 'genome_version')
    );
END
$$;
COMMENT ON FUNCTION genome._on_ad_planned(uuid, jsonb) IS
'Internal: hands a planned ad to the agents by enqueuing its generate job in the planning transaction.';

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
    v_selection jsonb;
    v_tags jsonb;
    v_id uuid;
    v_config jsonb;
    v_assign jsonb;
    v_context jsonb;
    i integer;
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

    FOR i IN 0 .. p_n - 1 LOOP
        v_selection := genome.select_elements(
            v_brand, v_run.product_id, p_now,
            CASE WHEN p_seed IS NULL THEN NULL ELSE p_seed + i END,
            p_fixed
        );
        v_tags := (v_selection -> 'element_tags') || v_context
            || jsonb_build_object('canvas_size', v_canvas);
        INSERT INTO public.generated_ads (
            ad_run_id, prompt_index, canvas_size, color_mode, final_status, element_tags,
            element_propensities, element_tags_source, bandit_selected, pre_gen_score,
            genome_version, prompt_version, created_at
        )
        VALUES (
            p_ad_run_id,
            v_next_index + i,
            v_canvas,
            v_tags ->> 'color_mode',
            'pending',
            v_tags,
            v_selection - 'element_tags',
            'plan',
            true,
            genome._pre_gen_score(v_brand, v_run.product_id, v_tags),
            (v_selection ->> 'genome_version')::integer,
            v_config ->> 'prompt_template_version',
            p_now
        )
        RETURNING id INTO v_id;
        PERFORM genome._on_ad_planned(v_id, v_selection);
        RETURN NEXT v_id;
    END LOOP;


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
