CREATE OR REPLACE FUNCTION genome._job_kinds()
RETURNS text []
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = genome, public
AS $$
    SELECT array_agg(k.kind ORDER BY k.stage_rank) FROM genome.agent_job_kinds AS k;
$$;
COMMENT ON FUNCTION genome._job_kinds() IS
'Internal: the agent job kinds of genome.agent_job_kinds, in pipeline stage order (generate -> defect_scan -> review -> second_opinion -> embed; noop for tests and probes).';
