CREATE OR REPLACE FUNCTION genome._job_for_worker(p_job genome.agent_jobs)
RETURNS genome.agent_jobs
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- A worker's name is what proves its lease: the next claimer of a job must not learn
    -- the names of the workers that held it before (docs/attacks.md#agents-and-the-queue).
    p_job.errors := coalesce(
        (SELECT jsonb_agg(e - 'worker') FROM jsonb_array_elements(p_job.errors) AS e), '[]'
    );
    RETURN p_job;
END
$$;
COMMENT ON FUNCTION genome._job_for_worker(genome.agent_jobs) IS
'Internal: a job row as an agent may see it: errors without the worker names of earlier attempts (the current leased_by is the caller''s own name).';
