-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.release_job(uuid, text, timestamptz);

CREATE OR REPLACE FUNCTION genome.release_job(
    p_job_id uuid,
    p_worker text,
    p_now timestamptz DEFAULT now(),
    p_lease_token uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._require_job(p_job_id);

    UPDATE genome.agent_jobs AS j
    SET status = 'queued',
        attempts = greatest(j.attempts - 1, 0),
        leased_by = NULL,
        lease_token = NULL,
        leased_until = NULL,
        run_after = p_now,
        updated_at = p_now
    WHERE j.id = p_job_id AND j.status = 'running' AND j.leased_by = p_worker
      -- and the lease's token (genome._hold_lease)
      AND (j.lease_token = p_lease_token OR genome._caller_is_owner());
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    UPDATE genome.agent_job_attempts AS a
    SET ended_at = p_now, outcome = 'released'
    WHERE a.agent_job_id = p_job_id AND a.ended_at IS NULL;
    RETURN true;
END
$$;
COMMENT ON FUNCTION genome.release_job(uuid, text, timestamptz, uuid) IS
'Give a running job back to the queue unfinished (an agent draining on shutdown): the attempt is not counted and no error is recorded. Returns false when p_worker did not hold the job. Errors: GN403 unknown job. GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the worker does not hold the job.';
