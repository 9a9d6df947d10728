CREATE OR REPLACE FUNCTION genome._notify_job()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    PERFORM pg_notify('genome_jobs', json_build_object('kind', NEW.kind, 'id', NEW.id)::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._notify_job() IS
'Internal trigger: NOTIFY genome_jobs with {"kind", "id"} when a job is returned to the queue. A wake-up hint only: agents also poll.';

CREATE OR REPLACE FUNCTION genome._notify_jobs()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- One notification per kind per statement: a batch of 20,000 jobs wakes the agents
    -- once, not 20,000 times (docs/operations.md#notify).
    PERFORM pg_notify('genome_jobs', CASE
        WHEN n.jobs = 1 THEN json_build_object('kind', n.kind, 'id', n.id)
        ELSE json_build_object('kind', n.kind, 'jobs', n.jobs)
    END::text)
    FROM (
        SELECT q.kind, count(*) AS jobs, min(q.id::text) AS id FROM new_jobs AS q GROUP BY q.kind
    ) AS n;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._notify_jobs() IS
'Internal statement trigger: after an INSERT into genome.agent_jobs, one NOTIFY genome_jobs per kind inserted: {"kind", "id"} for a single job, {"kind", "jobs": n} for a batch. A wake-up hint only: agents also poll.';

CREATE OR REPLACE TRIGGER agent_jobs_notify_insert
AFTER INSERT ON genome.agent_jobs
REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION genome._notify_jobs();

CREATE OR REPLACE TRIGGER agent_jobs_notify_requeue
AFTER UPDATE OF status ON genome.agent_jobs
FOR EACH ROW
WHEN (new.status = 'queued' AND old.status IS DISTINCT FROM 'queued')
EXECUTE FUNCTION genome._notify_job();
