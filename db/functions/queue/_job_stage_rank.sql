CREATE OR REPLACE FUNCTION genome._job_stage_rank()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    -- An unknown kind leaves the rank NULL: the foreign key to genome.agent_job_kinds
    -- then refuses the row.
    NEW.stage_rank := (SELECT k.stage_rank FROM genome.agent_job_kinds AS k WHERE k.kind = NEW.kind);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION genome._job_stage_rank() IS
'Internal trigger: sets genome.agent_jobs.stage_rank from genome.agent_job_kinds for the row''s kind (a stored rank lets agent_jobs_claim_order_idx serve claims without a join).';

CREATE OR REPLACE TRIGGER agent_jobs_stage_rank
BEFORE INSERT OR UPDATE OF kind, stage_rank ON genome.agent_jobs
FOR EACH ROW EXECUTE FUNCTION genome._job_stage_rank();
