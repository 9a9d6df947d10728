-- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
-- (PostgreSQL 15 keeps no plan for it), which cost more than the work; PL/pgSQL keeps it.
CREATE OR REPLACE FUNCTION genome._finish_job(
    p_job_id uuid,
    p_result jsonb,
    p_now timestamptz
)
RETURNS void
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    UPDATE genome.agent_jobs AS j
    SET status = 'succeeded',
        result = coalesce(p_result, '{}'),
        leased_until = NULL,
        finished_at = p_now,
        updated_at = p_now
    WHERE j.id = p_job_id AND j.status = 'running';

    UPDATE genome.agent_job_attempts AS a
    SET ended_at = p_now, outcome = 'succeeded'
    WHERE a.agent_job_id = p_job_id AND a.ended_at IS NULL;
END
$$;
COMMENT ON FUNCTION genome._finish_job(uuid, jsonb, timestamptz) IS
'Internal: mark a running job (lease already checked by _hold_lease) succeeded with its result and close its open attempt.';
