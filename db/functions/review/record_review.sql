-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.record_review(uuid, text, jsonb, jsonb, timestamptz);

CREATE OR REPLACE FUNCTION genome.record_review(
    p_job_id uuid,
    p_worker text,
    p_review jsonb,
    p_call jsonb,
    p_now timestamptz DEFAULT now(),
    p_lease_token uuid DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
    v_config genome.quality_scoring_config;
    v_scores jsonb;
    v_problem text;
    v_reviewer text;
    v_exemplars uuid [];
    v_verdict record;
    v_model text;
    v_summary jsonb;
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_review::text, 'review');
    PERFORM genome._check_payload_size(p_call::text, 'model call record');
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['review', 'second_opinion'], p_lease_token);
    IF v_job.status = 'succeeded' THEN
        RETURN genome._decide_review(v_job.generated_ad_id);
    END IF;

    v_config := genome._ad_quality_config(v_job.generated_ad_id);
    IF v_config.id IS NULL THEN
        RAISE EXCEPTION 'no active quality_scoring_config for the organization of ad %', v_job.generated_ad_id
            USING ERRCODE = 'GN412';
    END IF;

    -- Every check of the config must be scored 0-10; anything else is malformed output,
    -- never filled in with neutral scores.
    v_scores := p_review -> 'check_scores';
    IF p_review IS NULL OR jsonb_typeof(p_review) <> 'object' OR jsonb_typeof(v_scores) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'review of job % must be an object with a check_scores object', p_job_id
            USING ERRCODE = 'GN407';
    END IF;
    SELECT string_agg(p.problem, ', ' ORDER BY p.code)
    INTO v_problem
    FROM (
        SELECT w.key AS code, format('%s missing', w.key) AS problem
        FROM jsonb_object_keys(v_config.check_weights) AS w (key)
        WHERE NOT v_scores ? w.key
        UNION ALL
        SELECT s.key, format('%s is not a check of config %s', s.key, v_config.version)
        FROM jsonb_each(v_scores) AS s
        WHERE NOT v_config.check_weights ? s.key
        UNION ALL
        SELECT s.key, format('%s = %s is not a score in 0-10', s.key, s.value)
        FROM jsonb_each(v_scores) AS s
        WHERE jsonb_typeof(s.value) <> 'number' OR s.value::numeric NOT BETWEEN 0 AND 10
    ) AS p;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'malformed review for job %: %', p_job_id, v_problem USING ERRCODE = 'GN407';
    END IF;

    v_reviewer := genome._reviewer_name(p_review, p_call);
    IF v_reviewer IS NULL THEN
        RAISE EXCEPTION 'review of job % names no known reviewer (claude, gemini, offline)', p_job_id
            USING ERRCODE = 'GN407';
    END IF;
    IF p_review ? 'exemplar_ids' THEN
        IF jsonb_typeof(p_review -> 'exemplar_ids') <> 'array' OR EXISTS (
            SELECT 1 FROM jsonb_array_elements(p_review -> 'exemplar_ids') AS e
            WHERE jsonb_typeof(e) <> 'string'
               OR (e #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        ) THEN
            RAISE EXCEPTION 'review.exemplar_ids of job % must be an array of uuids', p_job_id
                USING ERRCODE = 'GN407';
        END IF;
        SELECT array_agg((e #>> '{}')::uuid) INTO v_exemplars
        FROM jsonb_array_elements(p_review -> 'exemplar_ids') AS e;
    END IF;

    PERFORM genome._record_calls(v_job, p_call, p_now);
    v_model := (CASE jsonb_typeof(p_call) WHEN 'array' THEN p_call -> 0 ELSE p_call END) ->> 'model';
    SELECT rv.* INTO v_verdict FROM genome._review_verdict(v_scores, v_config.id) AS rv;

    INSERT INTO genome.ad_reviews (
        generated_ad_id, agent_job_id, stage, reviewer, model_used, config_id, check_scores,
        weighted_score, verdict, exemplar_ids, raw_output, created_at
    )
    VALUES (
        v_job.generated_ad_id, v_job.id, v_job.kind, v_reviewer, v_model, v_config.id, v_scores,
        v_verdict.weighted_score, v_verdict.verdict, coalesce(v_exemplars, '{}'), p_review, p_now
    )
    ON CONFLICT (agent_job_id) DO NOTHING;

    v_summary := jsonb_build_object(
        'stage', v_job.kind, 'model', v_model, 'config_id', v_config.id,
        'check_scores', v_scores, 'weighted_score', v_verdict.weighted_score,
        'verdict', v_verdict.verdict, 'reason', v_verdict.reason, 'notes', p_review -> 'notes'
    );
    UPDATE public.generated_ads AS g
    SET review_check_scores = CASE WHEN v_job.kind = 'review' THEN v_scores ELSE g.review_check_scores END,
        review_weighted_score = CASE
            WHEN v_job.kind = 'review' THEN v_verdict.weighted_score ELSE g.review_weighted_score
        END,
        review_model_version = CASE WHEN v_job.kind = 'review' THEN v_model ELSE g.review_model_version END,
        claude_review = CASE WHEN v_reviewer = 'claude' THEN v_summary ELSE g.claude_review END,
        gemini_review = CASE WHEN v_reviewer = 'gemini' THEN v_summary ELSE g.gemini_review END
    WHERE g.id = v_job.generated_ad_id;

    PERFORM genome._finish_job(
        p_job_id,
        jsonb_build_object('verdict', v_verdict.verdict, 'weighted_score', v_verdict.weighted_score),
        p_now
    );
    RETURN genome._apply_review_decision(v_job.generated_ad_id, p_now);
END
$$;
COMMENT ON FUNCTION genome.record_review(uuid, text, jsonb, jsonb, timestamptz, uuid) IS
'Stage 2 (review job) or 3 (second_opinion job) result, in one transaction: checks the lease, scores the review under the organization''s active quality config (the brand''s own active row first), writes one ad_reviews row per job (agent_job_id unique) with weighted score and verdict, records the call(s), completes the job and decides: approve / reject, or a second_opinion job for a borderline first review; after a second opinion approved if it approves, flagged if both are borderline, rejected otherwise; an approved ad gets its embed job. p_review: {"check_scores": {code: 0-10 for every check of the config}, "notes", "reviewer" (claude|gemini|offline, else from call.provider), "exemplar_ids": [uuid], "raw"}. Returns the ad''s decision. A repeated call by the worker that completed the job writes nothing. Errors: GN403 unknown job; GN404 lease not held; GN405 not a review job; GN407 malformed review (missing, unknown or out-of-range checks, unknown reviewer, bad exemplar ids); GN408 malformed call record; GN412 no active quality config. GN413 an argument larger than settings max_payload_bytes (default 1 MiB). GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
