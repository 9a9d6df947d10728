-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome._hold_lease(uuid, text, text []);

CREATE OR REPLACE FUNCTION genome._hold_lease(
    p_job_id uuid,
    p_worker text,
    p_kinds text [],
    p_lease_token uuid DEFAULT NULL
)
RETURNS genome.agent_jobs
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_job genome.agent_jobs;
BEGIN
    IF p_worker IS NULL OR btrim(p_worker) = '' THEN
        RAISE EXCEPTION 'a worker name is required' USING ERRCODE = 'GN400';
    END IF;
    PERFORM genome._require_job(p_job_id);
    SELECT j.* INTO v_job FROM genome.agent_jobs AS j WHERE j.id = p_job_id FOR UPDATE;
    IF NOT v_job.kind = ANY (p_kinds) THEN
        RAISE EXCEPTION 'job % is a % job, expected %', p_job_id, v_job.kind, p_kinds
            USING ERRCODE = 'GN405';
    END IF;
    -- The lease holder may still write after leased_until as long as nobody reaped the job:
    -- status and leased_by fence out every other worker.
    -- The worker's name alone proves nothing (names are not secret): the caller must also
    -- present the token claim_jobs returned with this lease. The owner (scheduled jobs,
    -- tests, operators), who may write the queue's rows directly anyway, needs none.
    IF v_job.leased_by IS DISTINCT FROM p_worker
       OR v_job.status NOT IN ('running', 'succeeded')
       OR (v_job.lease_token IS DISTINCT FROM p_lease_token AND NOT genome._caller_is_owner()) THEN
        -- The message names only what the caller sent: never the holder, who could then
        -- be impersonated (docs/attacks.md#agents-and-the-queue).
        RAISE EXCEPTION 'job % is not leased by this worker', p_job_id
            USING ERRCODE = 'GN404';
    END IF;
    RETURN v_job;
END
$$;
COMMENT ON FUNCTION genome._hold_lease(uuid, text, text [], uuid) IS
'Internal: lock a job row and check that p_worker holds its lease (status running) or already completed it (status succeeded: the caller replays the stored outcome instead of writing twice). Errors: GN400 empty worker; GN403 unknown job; GN404 lease not held (expired and reaped, released, or another worker''s); GN405 job of another kind. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
