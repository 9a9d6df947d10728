-- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
-- (PostgreSQL 15 keeps no plan for it), which cost more than the work; PL/pgSQL keeps it.
CREATE OR REPLACE FUNCTION genome._job_kinds()
RETURNS text []
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = genome, public
AS $$
BEGIN
    RETURN (SELECT array_agg(k.kind ORDER BY k.stage_rank) FROM genome.agent_job_kinds AS k);
END
$$;
COMMENT ON FUNCTION genome._job_kinds() IS
'Internal: the agent job kinds of genome.agent_job_kinds, in pipeline stage order (generate -> defect_scan -> review -> second_opinion -> embed; noop for tests and probes).';
