-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.record_generation(uuid, text, text, text, jsonb, timestamptz);

CREATE OR REPLACE FUNCTION genome.record_generation(
    p_job_id uuid,
    p_worker text,
    p_storage_path text,
    p_prompt_text text,
    p_call jsonb,
    p_now timestamptz DEFAULT now(),
    p_lease_token uuid DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_storage_path, 'storage path');
    PERFORM genome._check_payload_size(p_prompt_text, 'prompt text');
    PERFORM genome._check_payload_size(p_call::text, 'model call record');
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['generate'], p_lease_token);
    IF v_job.status = 'succeeded' THEN
        -- A retried call after a lost reply: the image is recorded, nothing is written twice.
        RETURN (
            SELECT j.id FROM genome.agent_jobs AS j
            WHERE j.generated_ad_id = v_job.generated_ad_id AND j.kind = 'defect_scan'
        );
    END IF;
    IF p_storage_path IS NULL OR btrim(p_storage_path) = '' THEN
        RAISE EXCEPTION 'generation of job % has no storage path', p_job_id USING ERRCODE = 'GN400';
    END IF;

    PERFORM genome._record_calls(v_job, p_call, p_now);
    UPDATE public.generated_ads AS g
    SET storage_path = p_storage_path,
        prompt_text = coalesce(nullif(p_prompt_text, ''), g.prompt_text)
    WHERE g.id = v_job.generated_ad_id;
    PERFORM genome._finish_job(
        p_job_id, jsonb_build_object('storage_path', p_storage_path), p_now
    );
    RETURN genome._enqueue_job('defect_scan', v_job.generated_ad_id, '{}', p_now);
END
$$;
COMMENT ON FUNCTION genome.record_generation(uuid, text, text, text, jsonb, timestamptz, uuid) IS
'Stage 0 result, in one transaction: checks that p_worker holds the generate job, stores the image''s storage_path and prompt_text on the ad, records the model call(s) (p_call: one object or an array) in provider_calls, completes the job and queues the defect_scan job, whose id it returns. A repeated call by the worker that completed the job writes nothing and returns the same id. Errors: GN400 empty storage path or worker; GN403 unknown job; GN404 lease not held; GN405 not a generate job; GN408 malformed call record. GN413 an argument larger than settings max_payload_bytes (default 1 MiB). GN420 p_now other than now() from a caller other than the owner. GN423 storage path not a key of the ad''s organization''s folder. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
