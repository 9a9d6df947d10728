-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.heartbeat_job(uuid, text, interval, timestamptz);

CREATE OR REPLACE FUNCTION genome.heartbeat_job(
    p_job_id uuid,
    p_worker text,
    p_lease interval,
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
    PERFORM genome._require_lease(p_lease);
    PERFORM genome._require_job(p_job_id);
    UPDATE genome.agent_jobs AS j
    SET leased_until = greatest(j.leased_until, p_now + p_lease),
        updated_at = p_now
    WHERE j.id = p_job_id AND j.status = 'running' AND j.leased_by = p_worker
      -- and the lease's token (genome._hold_lease)
      AND (j.lease_token = p_lease_token OR genome._caller_is_owner());
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION genome.heartbeat_job(uuid, text, interval, timestamptz, uuid) IS
'Extend the lease of a running job held by p_worker to p_now + p_lease (never shortens it). Returns false when the worker no longer holds the job (reaped, released or finished): the worker should stop. Errors: GN400 non-positive lease; GN403 unknown job. GN420 p_now other than now() from a caller other than the owner. GN421 lease longer than settings job_max_lease_seconds. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the worker does not hold the job.';
