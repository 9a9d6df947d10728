-- One source for each fact (docs/operations.md): the scheduled jobs carry their cron
-- expression and their order within a day (pg_cron's schedules and the demo's virtual-time
-- cadence are read from these rows); the agent job kinds and their stage order are one
-- table that agent_jobs references; max_payload_bytes becomes a settings row like the
-- others. The agent's direct read of agent_jobs goes: it reads through definer functions.

-- 1. Scheduled jobs: what pg_cron runs, when (UTC), and in which order within a day.
ALTER TABLE genome.job_schedules
ADD COLUMN schedule text,
ADD COLUMN day_order smallint;
UPDATE genome.job_schedules AS j
SET schedule = s.schedule, day_order = s.day_order
FROM (
    VALUES
    ('reap_jobs', '* * * * *', 1),
    ('genome_collect', '30 6 * * *', 2),
    ('fatigue_refresh', '0 7 * * *', 3),
    ('experiment_analysis', '0 8 * * *', 4),
    -- After experiment_analysis: update_scores combines the day's causal effects.
    ('creative_genome_update', '30 8 * * 1', 5),
    ('genome_validation', '0 9 * * 1', 6),
    ('quality_calibration', '0 10 * * 1', 7),
    ('winner_evolution', '0 11 * * 1', 8)
) AS s (job_name, schedule, day_order)
WHERE s.job_name = j.job_name;
ALTER TABLE genome.job_schedules
ALTER COLUMN schedule SET NOT NULL,
ALTER COLUMN day_order SET NOT NULL,
ADD CONSTRAINT job_schedules_day_order_key UNIQUE (day_order),
ADD CONSTRAINT job_schedules_schedule_check
CHECK (array_length(regexp_split_to_array(btrim(schedule), '\s+'), 1) = 5);
COMMENT ON TABLE genome.job_schedules IS
'The named scheduled jobs, the one definition of each: the genome functions it runs (called with p_now, in order), its pg_cron schedule (UTC) and its order within a day. genome migrate schedules these rows into pg_cron (db/jobs/schedules.sql), the demo evaluates the same cron expressions in virtual time, and genome.run_job accepts only these names.';
COMMENT ON COLUMN genome.job_schedules.invocations IS
'The genome functions the job calls, in order, each as genome.<name>(p_now timestamptz).';
COMMENT ON COLUMN genome.job_schedules.schedule IS
'Five-field cron expression (minute hour day-of-month month day-of-week, UTC) pg_cron runs the job on.';
COMMENT ON COLUMN genome.job_schedules.day_order IS
'Position of the job among the jobs of one day; follows the times of schedule (a test checks they agree) and breaks ties between jobs due at the same minute.';

-- 2. Agent job kinds: one table, with the pipeline stage order that claims follow.
CREATE TABLE genome.agent_job_kinds (
    kind text PRIMARY KEY,
    stage_rank smallint NOT NULL UNIQUE CHECK (stage_rank > 0),
    description text NOT NULL,
    UNIQUE (kind, stage_rank)
);
COMMENT ON TABLE genome.agent_job_kinds IS
'The agent job kinds and their pipeline stage order (stage_rank): generate -> defect_scan -> review -> second_opinion -> embed, then noop for tests and probes. genome.agent_jobs references it; claims take the highest stage_rank first.';
INSERT INTO genome.agent_job_kinds (kind, stage_rank, description) VALUES
('generate', 1, 'Render the planned ad''s image'),
('defect_scan', 2, 'Scan the image for defects (text, faces, artefacts)'),
('review', 3, 'Score the ad on the active quality config''s checks'),
('second_opinion', 4, 'A second review of a borderline first review'),
('embed', 5, 'Embed an approved ad for duplicate and diversity checks'),
('noop', 6, 'Does nothing: for tests and probes');

ALTER TABLE genome.agent_jobs DROP CONSTRAINT agent_jobs_kind_check;
-- stage_rank stays a stored column (agent_jobs_claim_order_idx serves claims), now filled
-- from genome.agent_job_kinds by the trigger agent_jobs_stage_rank; the foreign key keeps
-- the pair equal to the table's (and follows a reordering of the stages).
ALTER TABLE genome.agent_jobs ALTER COLUMN stage_rank DROP EXPRESSION;
ALTER TABLE genome.agent_jobs
ADD CONSTRAINT agent_jobs_kind_fkey FOREIGN KEY (kind, stage_rank)
REFERENCES genome.agent_job_kinds (kind, stage_rank) MATCH FULL ON UPDATE CASCADE;
COMMENT ON COLUMN genome.agent_jobs.stage_rank IS
'Pipeline position of the kind (genome.agent_job_kinds.stage_rank, set by the trigger agent_jobs_stage_rank); claims take the highest first.';

-- 3. Settings: the payload limit was a default inside a function.
INSERT INTO genome.settings (key, value, description) VALUES
('max_payload_bytes', '1048576',
 'Largest text argument (review, notes, descriptor) an agent function accepts, in bytes')
ON CONFLICT (key) DO NOTHING;

-- 4. The agent reads the queue through genome.agent_has_work, no longer the table.
DROP POLICY IF EXISTS genome_agent_queue ON genome.agent_jobs;
