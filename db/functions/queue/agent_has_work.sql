CREATE OR REPLACE FUNCTION genome.agent_has_work(p_kinds text [])
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM genome.agent_jobs AS j
        WHERE j.kind = ANY (p_kinds) AND j.status IN ('queued', 'running')
    );
$$;
COMMENT ON FUNCTION genome.agent_has_work(text []) IS
'For the agents'' idle check: whether any job of the kinds p_kinds is queued or running (whoever holds it, whenever it may run). A definer function, so the agent role sees this one fact and no row of genome.agent_jobs.';
