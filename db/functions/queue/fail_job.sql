-- The failed attempt's billed model calls (p_calls) came after the first release of
-- fail_job: its older signature goes.
DROP FUNCTION IF EXISTS genome.fail_job(uuid, text, text, timestamptz);

-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.fail_job(uuid, text, text, timestamptz, jsonb);

CREATE OR REPLACE FUNCTION genome.fail_job(
    p_job_id uuid,
    p_worker text,
    p_error text,
    p_now timestamptz DEFAULT now(),
    p_calls jsonb DEFAULT NULL,
    p_lease_token uuid DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
    v_dead boolean;
    v_delay double precision;
    v_error text;
BEGIN
    IF p_error IS NULL OR btrim(p_error) = '' THEN
        RAISE EXCEPTION 'fail_job needs the error text' USING ERRCODE = 'GN400';
    END IF;
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_calls::text, 'model call records');
    v_job := genome._hold_lease(p_job_id, p_worker, genome._job_kinds(), p_lease_token);
    IF v_job.status <> 'running' THEN
        RAISE EXCEPTION 'job % already succeeded; it cannot fail', p_job_id USING ERRCODE = 'GN404';
    END IF;
    -- The attempt's billed calls are recorded even though it failed (an answer that could
    -- not be used was paid for): docs/operations.md#prices.
    IF p_calls IS NOT NULL AND p_calls NOT IN ('[]'::jsonb, 'null'::jsonb) THEN
        PERFORM genome._record_calls(v_job, p_calls, p_now);
    END IF;

    v_error := left(p_error, 20000);
    v_dead := v_job.attempts >= v_job.max_attempts;
    -- Exponential backoff with jitter: base * 2^(attempt - 1), times a factor in [0.5, 1.5),
    -- at most an hour.
    v_delay := least(
        3600,
        genome._setting_num('job_backoff_base_seconds')
        * power(2, v_job.attempts - 1) * (0.5 + random())
    );

    UPDATE genome.agent_jobs AS j
    SET status = CASE WHEN v_dead THEN 'dead' ELSE 'queued' END,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempts, 'at', p_now, 'worker', p_worker, 'error', v_error
        )),
        last_error = v_error,
        leased_by = CASE WHEN v_dead THEN j.leased_by END,
        lease_token = NULL,
        leased_until = NULL,
        run_after = CASE WHEN v_dead THEN j.run_after ELSE p_now + make_interval(secs => v_delay) END,
        finished_at = CASE WHEN v_dead THEN p_now END,
        updated_at = p_now
    WHERE j.id = p_job_id;

    UPDATE genome.agent_job_attempts AS a
    SET ended_at = p_now,
        outcome = CASE WHEN v_dead THEN 'dead' ELSE 'failed' END,
        error = v_error
    WHERE a.agent_job_id = p_job_id AND a.ended_at IS NULL;

    IF v_dead THEN
        PERFORM genome._apply_dead_letters(ARRAY[p_job_id], p_now);
        RETURN 'dead';
    END IF;
    RETURN 'queued';
END
$$;
COMMENT ON FUNCTION genome.fail_job(uuid, text, text, timestamptz, jsonb, uuid) IS
'Record a failed attempt of a job held by p_worker: the billed model calls of the attempt (p_calls: one call object or an array, ok = false with the error class for an answer that could not be used) go to provider_calls; the error is appended to errors (every attempt is kept) and last_error. Before max_attempts the job is queued again after base * 2^(attempt-1) seconds times a jitter factor in [0.5, 1.5) (settings job_backoff_base_seconds, capped at one hour) and ''queued'' is returned; at max_attempts it is dead-lettered (''dead''): a dead generate job makes the ad generation_failed, a dead defect_scan / review / second_opinion job makes it review_failed, a dead embed job keeps the decision and notes it. Errors: GN400 empty error text or worker; GN004 bad p_now; GN403 unknown job; GN404 lease not held or job already succeeded; GN408 a malformed call record. GN413 p_calls larger than settings max_payload_bytes. GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
