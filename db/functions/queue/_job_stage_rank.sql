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

-- Every insert takes the table's rank, also one that gives its own (tests/test_claim_order.py):
-- the kinds table is the one source of the stage order.
CREATE OR REPLACE TRIGGER agent_jobs_stage_rank
BEFORE INSERT ON genome.agent_jobs
FOR EACH ROW EXECUTE FUNCTION genome._job_stage_rank();

CREATE OR REPLACE TRIGGER agent_jobs_stage_rank_update
BEFORE UPDATE OF kind, stage_rank ON genome.agent_jobs
FOR EACH ROW EXECUTE FUNCTION genome._job_stage_rank();
