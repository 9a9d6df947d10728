CREATE OR REPLACE FUNCTION genome.reap_jobs(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_count integer;
    v_dead uuid [];
BEGIN
    PERFORM genome._require_server_time(p_now);

    WITH expired AS (
        SELECT j.id
        FROM genome.agent_jobs AS j
        WHERE j.status = 'running' AND j.leased_until < p_now
        FOR UPDATE SKIP LOCKED
    ),

    reaped AS (
        UPDATE genome.agent_jobs AS j
        SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
            errors = j.errors || jsonb_build_array(jsonb_build_object(
                'attempt', j.attempts, 'at', p_now, 'worker', j.leased_by,
                'error', format('lease expired at %s', j.leased_until)
            )),
            -- The holder's name stays in errors[].worker, out of the text the next claimer
            -- reads (docs/attacks.md#agents-and-the-queue).
            last_error = format('lease expired at %s', j.leased_until),
            leased_by = CASE WHEN j.attempts >= j.max_attempts THEN j.leased_by END,
            lease_token = NULL,
            leased_until = NULL,
            run_after = p_now,
            finished_at = CASE WHEN j.attempts >= j.max_attempts THEN p_now END,
            updated_at = p_now
        FROM expired
        WHERE j.id = expired.id
        RETURNING j.id, j.status, j.last_error
    ),

    closed AS (
        UPDATE genome.agent_job_attempts AS a
        SET ended_at = p_now,
            outcome = CASE WHEN r.status = 'dead' THEN 'dead' ELSE 'expired' END,
            error = r.last_error
        FROM reaped AS r
        WHERE a.agent_job_id = r.id AND a.ended_at IS NULL
    )

    SELECT count(*)::integer, array_agg(r.id) FILTER (WHERE r.status = 'dead')
    INTO v_count, v_dead
    FROM reaped AS r;

    IF v_dead IS NOT NULL THEN
        PERFORM genome._apply_dead_letters(v_dead, p_now);
    END IF;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION genome.reap_jobs(timestamptz) IS
'Return running jobs whose lease expired before p_now to the queue (scheduled every minute; agents also call it). The expired attempt counts: it is recorded in errors, and a job at max_attempts is dead-lettered with the same consequences as genome.fail_job. Jobs locked by a writer are skipped. Returns the number of jobs reaped. Errors: GN004 bad p_now; GN420 p_now other than now() from a caller other than the owner.';
