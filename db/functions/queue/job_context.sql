-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.job_context(uuid, text);

CREATE OR REPLACE FUNCTION genome.job_context(p_job_id uuid, p_worker text, p_lease_token uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
    v_context jsonb;
    v_config genome.quality_scoring_config;
    v_performance text;
BEGIN
    PERFORM genome._require_job(p_job_id);
    SELECT j.* INTO v_job FROM genome.agent_jobs AS j WHERE j.id = p_job_id;
    -- The context names a brand, its product and the ad's prompt: only the worker holding the
    -- job's lease may read it (the agent role can list job ids, not read other jobs' ads).
    -- The worker's name and the lease's token (genome._hold_lease).
    IF v_job.status <> 'running' OR v_job.leased_by IS DISTINCT FROM p_worker
       OR (v_job.lease_token IS DISTINCT FROM p_lease_token AND NOT genome._caller_is_owner()) THEN
        -- The message names only what the caller sent: never the holder, who could then
        -- be impersonated (docs/attacks.md#agents-and-the-queue).
        RAISE EXCEPTION 'job % is not leased by this worker', p_job_id
            USING ERRCODE = 'GN404';
    END IF;
    IF v_job.generated_ad_id IS NULL THEN
        RETURN jsonb_build_object('job', to_jsonb(genome._job_for_worker(v_job)));
    END IF;

    v_config := genome._ad_quality_config(v_job.generated_ad_id);
    SELECT jsonb_build_object(
        'job', jsonb_build_object(
            'id', v_job.id, 'kind', v_job.kind, 'attempts', v_job.attempts,
            'max_attempts', v_job.max_attempts, 'payload', v_job.payload
        ),
        'ad', jsonb_build_object(
            'id', g.id, 'ad_run_id', g.ad_run_id, 'prompt_index', g.prompt_index,
            'prompt_text', g.prompt_text, 'canvas_size', g.canvas_size,
            'element_tags', coalesce(g.element_tags, '{}'), 'storage_path', g.storage_path,
            'hook_text', g.hook_text, 'final_status', g.final_status
        ),
        'product', jsonb_build_object(
            'id', p.id, 'name', p.name, 'current_offer', p.current_offer,
            'benefits', to_jsonb(coalesce(p.benefits, '{}'))
        ),
        'brand', jsonb_build_object('id', b.id, 'name', b.name),
        -- docs/experiments.md#generation-ab-tests: the versions and settings the run was
        -- planned with (a generation A/B arm's keys included), which the agents apply.
        'generation', jsonb_build_object(
            'prompt_template_version', coalesce(r.generation_config ->> 'prompt_template_version', 'v2.0'),
            'pipeline_version', r.generation_config ->> 'pipeline_version',
            'review_rubric_version', v_config.version,
            'pipeline_settings', '{"exemplar_count": 4, "performance_context": true}'::jsonb
            || CASE
                WHEN jsonb_typeof(r.generation_config -> 'pipeline_settings') = 'object'
                    THEN r.generation_config -> 'pipeline_settings'
                ELSE '{}'::jsonb
            END,
            'experiment', CASE
                WHEN r.experiment_id IS NOT NULL
                    THEN jsonb_build_object('id', r.experiment_id, 'group', r.experiment_group)
            END
        ),
        'organization_id', b.organization_id,
        'config', jsonb_build_object('id', v_config.id, 'version', v_config.version),
        'rubric', coalesce((
            SELECT jsonb_agg(
                jsonb_build_object(
                    'code', w.key, 'name', coalesce(rc.name, w.key), 'weight', w.value::numeric,
                    'description', coalesce(rc.description, '')
                ) ORDER BY w.key
            )
            FROM jsonb_each_text(v_config.check_weights) AS w
            LEFT JOIN genome.review_checks AS rc ON w.key = rc.code
        ), '[]')
    )
    INTO v_context
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    WHERE g.id = v_job.generated_ad_id;

    -- The learning loop's advisory prompt block, once genome._performance_context exists
    -- (the body of the app's performance_context: this function runs as the owner, with no
    -- organization set, so it calls the twin).
    IF v_job.kind = 'generate'
       AND (v_context #>> '{generation,pipeline_settings,performance_context}')::boolean
       AND to_regprocedure('genome._performance_context(uuid, uuid)') IS NOT NULL THEN
        EXECUTE 'SELECT genome._performance_context($1, $2)'
        INTO v_performance
        USING (v_context #>> '{brand,id}')::uuid, (v_context #>> '{product,id}')::uuid;
        v_context := v_context || jsonb_build_object('performance_context', v_performance);
    END IF;
    -- Review stages embed the image for genome.review_exemplars only when there is a library
    -- to search: a brand without exemplars costs no describe or embedding call.
    IF v_job.kind IN ('review', 'second_opinion') THEN
        v_context := v_context || jsonb_build_object('active_exemplars', (
            SELECT count(*) FROM genome.ad_quality_exemplars AS e
            WHERE e.brand_id = (v_context #>> '{brand,id}')::uuid AND e.is_active
        ));
    END IF;
    -- What a review already described and embedded of this image (reused, not paid twice).
    IF v_job.kind IN ('review', 'second_opinion', 'embed') THEN
        v_context := v_context || jsonb_build_object('visual_lookup', (
            SELECT jsonb_build_object('embedding_model', l.embedding_model, 'agent_job_id', l.agent_job_id)
            FROM genome.ad_visual_lookups AS l
            WHERE l.generated_ad_id = v_job.generated_ad_id
        ));
    END IF;
    RETURN v_context;
END
$$;
COMMENT ON FUNCTION genome.job_context(uuid, text, uuid) IS
'What the agent holding a job''s lease needs to run it, as one JSON object: the job, the ad (prompt, canvas, element_tags, storage_path), its product, brand and organization, the quality config that reviews the ad (genome._ad_quality_config: a generation A/B arm''s review_rubric_version, else the active one) and its rubric (code, name, weight, description per check), generation {prompt_template_version (default v2.0), pipeline_version, review_rubric_version, pipeline_settings {exemplar_count (default 4), performance_context (default true)}, experiment {id, group} or null}: the run''s recorded versions and its generation A/B arm''s settings (docs/experiments.md#generation-ab-tests), for generate jobs the performance_context prompt block when genome.performance_context exists and pipeline_settings.performance_context is true, and for review and second_opinion jobs active_exemplars, the number of the brand''s active exemplars (the agent embeds the image for genome.review_exemplars only when there are any); for review, second_opinion and embed jobs visual_lookup (embedding_model, agent_job_id) when a review already described and embedded the image (genome.ad_visual_lookups), else null. Errors: GN403 unknown job; GN404 the job is not running under p_worker''s lease. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
