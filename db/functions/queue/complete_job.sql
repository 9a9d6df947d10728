-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.complete_job(uuid, text, jsonb, timestamptz);

CREATE OR REPLACE FUNCTION genome.complete_job(
    p_job_id uuid,
    p_worker text,
    p_result jsonb DEFAULT '{}',
    p_now timestamptz DEFAULT now(),
    p_lease_token uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_result::text, 'job result');
    IF p_result IS NULL OR jsonb_typeof(p_result) <> 'object' THEN
        RAISE EXCEPTION 'job result must be a JSON object' USING ERRCODE = 'GN400';
    END IF;
    v_job := genome._hold_lease(p_job_id, p_worker, genome._job_kinds(), p_lease_token);
    IF v_job.status = 'succeeded' THEN
        RETURN false;
    END IF;
    PERFORM genome._finish_job(p_job_id, p_result, p_now);
    RETURN true;
END
$$;
COMMENT ON FUNCTION genome.complete_job(uuid, text, jsonb, timestamptz, uuid) IS
'Mark a job succeeded with a result object. Returns true when completed now, false when p_worker had already completed it (a retried call after a lost reply). Pipeline stages complete through their record_* writers instead. Errors: GN400 result not an object or empty worker; GN403 unknown job; GN404 lease not held. GN413 an argument larger than settings max_payload_bytes (default 1 MiB). GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
