-- The agents' queue as the pipeline uses it: the defect_scan stage and the 'running' status
-- (006 left both out of its CHECKs), one row per claimed attempt, and the history of every
-- change of an ad's final status (who decided what, and when).

ALTER TABLE genome.agent_jobs DROP CONSTRAINT IF EXISTS agent_jobs_kind_check;
ALTER TABLE genome.agent_jobs ADD CONSTRAINT agent_jobs_kind_check
CHECK (kind IN ('generate', 'defect_scan', 'review', 'second_opinion', 'embed', 'noop'));
ALTER TABLE genome.agent_jobs DROP CONSTRAINT IF EXISTS agent_jobs_status_check;
ALTER TABLE genome.agent_jobs ADD CONSTRAINT agent_jobs_status_check
CHECK (status IN ('queued', 'running', 'succeeded', 'dead', 'cancelled'));
COMMENT ON COLUMN genome.agent_jobs.leased_by IS
'The worker holding (or, once succeeded, the worker that completed) the job; result writers check it.';

CREATE TABLE genome.agent_job_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_job_id uuid NOT NULL REFERENCES genome.agent_jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL CHECK (attempt >= 1),
    worker text NOT NULL,
    claimed_at timestamptz NOT NULL,
    ended_at timestamptz,
    outcome text CHECK (outcome IN ('succeeded', 'failed', 'dead', 'expired', 'released')),
    error text,
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX agent_job_attempts_job_idx ON genome.agent_job_attempts (agent_job_id, id);
COMMENT ON TABLE genome.agent_job_attempts IS
'One row per claim of an agent job: who held it, from when to when, and how the attempt ended (a released attempt is not counted, so its number is claimed again).';

CREATE TABLE genome.ad_status_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    old_status text NOT NULL,
    new_status text NOT NULL,
    reason text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ad_status_history_ad_idx ON genome.ad_status_history (generated_ad_id, id);
COMMENT ON TABLE genome.ad_status_history IS
'Every change of generated_ads.final_status (pipeline decisions, dead letters, human overrides), with the reason recorded.';
