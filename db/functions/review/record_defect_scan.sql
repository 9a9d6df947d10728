-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.record_defect_scan(uuid, text, jsonb, jsonb, timestamptz);

CREATE OR REPLACE FUNCTION genome.record_defect_scan(
    p_job_id uuid,
    p_worker text,
    p_scan jsonb,
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
    v_problem text;
    v_defects text [];
    v_passed boolean;
    v_first_call jsonb;
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_scan::text, 'defect scan');
    PERFORM genome._check_payload_size(p_call::text, 'model call record');
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['defect_scan'], p_lease_token);
    IF v_job.status = 'succeeded' THEN
        RETURN genome._decide_review(v_job.generated_ad_id);
    END IF;

    -- A scan that is not complete and boolean is malformed: never read as a pass.
    IF p_scan IS NULL OR jsonb_typeof(p_scan) <> 'object' THEN
        RAISE EXCEPTION 'defect scan of job % must be a JSON object', p_job_id USING ERRCODE = 'GN406';
    END IF;
    SELECT string_agg(
        format('%s is %s', d.column_name, coalesce(jsonb_typeof(p_scan -> d.column_name), 'missing')),
        ', ' ORDER BY d.code
    )
    INTO v_problem
    FROM genome.defect_checks AS d
    WHERE jsonb_typeof(p_scan -> d.column_name) IS DISTINCT FROM 'boolean';
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'malformed defect scan for job %: % (every check must be a boolean)', p_job_id, v_problem
            USING ERRCODE = 'GN406';
    END IF;

    SELECT
        coalesce(array_agg(d.code ORDER BY d.code) FILTER (WHERE (p_scan ->> d.column_name)::boolean), '{}'),
        NOT coalesce(bool_or(d.critical AND (p_scan ->> d.column_name)::boolean), false)
    INTO v_defects, v_passed
    FROM genome.defect_checks AS d;

    PERFORM genome._record_calls(v_job, p_call, p_now);
    v_first_call := CASE jsonb_typeof(p_call) WHEN 'array' THEN p_call -> 0 ELSE p_call END;

    INSERT INTO genome.ad_defect_scans (
        generated_ad_id, agent_job_id, passed, defects_found, text_garbled, anatomy_error,
        physics_violation, packaging_text_error, product_distortion, offer_hallucination,
        model_used, scan_time_ms, raw_output, created_at
    )
    VALUES (
        v_job.generated_ad_id, v_job.id, v_passed, v_defects,
        (p_scan ->> 'text_garbled')::boolean,
        (p_scan ->> 'anatomy_error')::boolean,
        (p_scan ->> 'physics_violation')::boolean,
        (p_scan ->> 'packaging_text_error')::boolean,
        (p_scan ->> 'product_distortion')::boolean,
        (p_scan ->> 'offer_hallucination')::boolean,
        v_first_call ->> 'model',
        (v_first_call ->> 'latency_ms')::numeric::integer,
        p_scan,
        p_now
    )
    ON CONFLICT (agent_job_id) DO NOTHING;

    UPDATE public.generated_ads AS g
    SET defect_scan_result = p_scan || jsonb_build_object('defects_found', to_jsonb(v_defects)),
        defect_scan_passed = v_passed
    WHERE g.id = v_job.generated_ad_id;

    PERFORM genome._finish_job(
        p_job_id, jsonb_build_object('passed', v_passed, 'defects_found', to_jsonb(v_defects)), p_now
    );
    RETURN genome._apply_review_decision(v_job.generated_ad_id, p_now);
END
$$;
COMMENT ON FUNCTION genome.record_defect_scan(uuid, text, jsonb, jsonb, timestamptz, uuid) IS
'Stage 1 result, in one transaction: checks the lease, validates the scan (every genome.defect_checks column present as a boolean: text_garbled, anatomy_error, physics_violation, packaging_text_error, product_distortion, offer_hallucination), writes one ad_defect_scans row per job (agent_job_id unique), records the call(s), completes the job and decides: any critical defect rejects the ad at once, else the review job is queued. Returns the ad''s decision (pending or rejected). A repeated call by the worker that completed the job writes nothing. Errors: GN403 unknown job; GN404 lease not held; GN405 not a defect_scan job; GN406 malformed scan; GN408 malformed call record. GN413 an argument larger than settings max_payload_bytes (default 1 MiB). GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
