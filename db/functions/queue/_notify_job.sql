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
'Internal trigger: NOTIFY genome_jobs with {"kind", "id"} when a job is queued (inserted, or returned to the queue). A wake-up hint only: agents also poll.';

CREATE OR REPLACE TRIGGER agent_jobs_notify_insert
AFTER INSERT ON genome.agent_jobs
FOR EACH ROW EXECUTE FUNCTION genome._notify_job();

CREATE OR REPLACE TRIGGER agent_jobs_notify_requeue
AFTER UPDATE OF status ON genome.agent_jobs
FOR EACH ROW
WHEN (new.status = 'queued' AND old.status IS DISTINCT FROM 'queued')
EXECUTE FUNCTION genome._notify_job();
