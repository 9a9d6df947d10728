CREATE OR REPLACE FUNCTION genome._require_job(p_job_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_not_null(p_job_id, 'job id');
    IF NOT EXISTS (SELECT 1 FROM genome.agent_jobs AS j WHERE j.id = p_job_id) THEN
        RAISE EXCEPTION 'unknown agent job %', p_job_id USING ERRCODE = 'GN403';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_job(uuid) IS
'Internal: GN005 NULL job id; GN403 unknown agent job. The queue functions call it first (docs/errors.md).';
