-- Operations: the agents' work queue (claimed later stages first, every attempt kept), the
-- scheduled jobs and their log, model-call accounting.

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

CREATE TABLE genome.agent_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL,
    generated_ad_id uuid REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    payload jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    leased_by text,
    lease_token uuid,
    last_error text,
    errors jsonb NOT NULL DEFAULT '[]',
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- Claims take later pipeline stages first; a stored rank lets an index give that order
    -- (ordering by array_position(kinds, kind) sorted the whole queue on every claim). The
    -- trigger agent_jobs_stage_rank fills it from genome.agent_job_kinds; the foreign key
    -- keeps the pair equal to the table's (and follows a reordering of the stages).
    stage_rank smallint,
    CHECK (status <> 'running' OR (leased_until IS NOT NULL AND leased_by IS NOT NULL)),
    CONSTRAINT agent_jobs_kind_fkey FOREIGN KEY (kind, stage_rank)
    REFERENCES genome.agent_job_kinds (kind, stage_rank) MATCH FULL ON UPDATE CASCADE
);
-- One job of each pipeline stage per ad: a retried stage never enqueues its successor twice.
-- Not partial (NULLs are distinct, so ad-less jobs never conflict): the tenant policies'
-- `generated_ad_id IS NULL OR generated_ad_id = ANY (...)` is then one bitmap OR of two
-- index scans, where the partial index left a sequential scan testing every job against
-- the array of every visible ad (docs/security.md#row-level-security).
CREATE UNIQUE INDEX agent_jobs_ad_kind_idx ON genome.agent_jobs (generated_ad_id, kind);
CREATE INDEX agent_jobs_claim_idx ON genome.agent_jobs (kind, run_after) WHERE status = 'queued';
CREATE INDEX agent_jobs_lease_idx ON genome.agent_jobs (leased_until) WHERE status = 'running';
-- A job that was tried before (reaped after its agent died, or failed and backed off) goes
-- ahead of never-tried ones: its ad has waited longest (docs/attacks.md#agents-and-the-queue).
CREATE INDEX agent_jobs_claim_order_idx
ON genome.agent_jobs ((attempts > 0) DESC, stage_rank DESC, run_after, created_at, id)
WHERE status = 'queued';
COMMENT ON INDEX genome.agent_jobs_claim_order_idx IS
'Claim order of genome.claim_jobs: retried jobs first, then later pipeline stages, then oldest run_after.';
COMMENT ON TABLE genome.agent_jobs IS
'Work queue of the Python agents: claimed with FOR UPDATE SKIP LOCKED under a lease, retried with backoff, dead-lettered after max_attempts with every error kept.';
COMMENT ON COLUMN genome.agent_jobs.errors IS 'Every failed attempt: attempt number, time, error text.';
COMMENT ON COLUMN genome.agent_jobs.leased_by IS
'The worker holding (or, once succeeded, the worker that completed) the job; result writers check it.';
COMMENT ON COLUMN genome.agent_jobs.lease_token IS
'The secret of the current lease, a fresh random uuid per claim (genome.claim_jobs returns it to the claiming agent only): every agent call on the job must present it with the worker name, which is no secret (docs/security.md#definer-functions). Cleared when the job is released, failed or reaped. Not readable by genome_app.';
COMMENT ON COLUMN genome.agent_jobs.stage_rank IS
'Pipeline position of the kind (genome.agent_job_kinds.stage_rank, set by the trigger agent_jobs_stage_rank); claims take the highest first.';

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

CREATE TABLE genome.job_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name text NOT NULL,
    p_now timestamptz NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows_affected integer,
    result jsonb,
    error text
);
CREATE INDEX job_runs_name_idx ON genome.job_runs (job_name, started_at DESC);
COMMENT ON TABLE genome.job_runs IS 'One row per scheduled-job run (genome.run_job), including skipped overlaps and failures.';

CREATE TABLE genome.job_schedules (
    job_name text PRIMARY KEY,
    invocations text [] NOT NULL,
    description text NOT NULL,
    schedule text NOT NULL CHECK (array_length(regexp_split_to_array(btrim(schedule), '\s+'), 1) = 5),
    day_order smallint NOT NULL UNIQUE
);
COMMENT ON TABLE genome.job_schedules IS
'The named scheduled jobs, the one definition of each: the genome functions it runs (called with p_now, in order), its pg_cron schedule (UTC) and its order within a day. genome migrate schedules these rows into pg_cron (db/jobs/schedules.sql), the demo evaluates the same cron expressions in virtual time, and genome.run_job accepts only these names.';
COMMENT ON COLUMN genome.job_schedules.invocations IS
'The genome functions the job calls, in order, each as genome.<name>(p_now timestamptz).';
COMMENT ON COLUMN genome.job_schedules.schedule IS
'Five-field cron expression (minute hour day-of-month month day-of-week, UTC) pg_cron runs the job on.';
COMMENT ON COLUMN genome.job_schedules.day_order IS
'Position of the job among the jobs of one day; follows the times of schedule (a test checks they agree) and breaks ties between jobs due at the same minute.';
INSERT INTO genome.job_schedules (job_name, invocations, description, schedule, day_order) VALUES
('genome_collect', '{collect_rewards}',
 'Daily after meta_sync: collect_rewards (matured rewards, V1 tag backfill)', '30 6 * * *', 2),
-- After experiment_analysis: update_scores combines the day's causal effects.
('creative_genome_update', '{update_scores}',
 'Daily: update_scores (alpha/beta or the joint learner, priors, combos, win probabilities)', '30 8 * * *', 5),
('experiment_analysis', '{analyze_experiments}', 'Daily: analyze_experiments', '0 8 * * *', 4),
('genome_validation', '{validate,run_monitoring,analyze_generation_experiments}',
 'Weekly: validate, run_monitoring and generation A/B analysis', '0 9 * * 1', 6),
('quality_calibration', '{calibrate_all_quality}', 'Weekly: calibrate_quality per organization',
 '0 10 * * 1', 7),
('winner_evolution', '{evolve_winners}', 'Weekly: find_winners and evolve', '0 11 * * 1', 8),
('reap_jobs', '{reap_jobs}', 'Every minute: expired agent leases back to the queue', '* * * * *', 1),
('fatigue_refresh', '{detect_fatigue,schedule_refresh}',
 'Daily after genome_collect: detect_fatigue (CTR decay with frequency per launched ad) and schedule_refresh (refresh evolutions of fatigued or soon-fatigued winners)',
 '0 7 * * *', 3);

CREATE TABLE genome.provider_calls (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_job_id uuid REFERENCES genome.agent_jobs (id) ON DELETE SET NULL,
    generated_ad_id uuid REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    operation text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    ok boolean NOT NULL,
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    input_tokens integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_usd numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_calls_ad_idx ON genome.provider_calls (generated_ad_id);
COMMENT ON TABLE genome.provider_calls IS 'Every model call: model, latency, tokens and cost, for cost per ad.';

CREATE TABLE genome.dashboard_users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    username text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$'),
    password_hash text CHECK (password_hash IS NULL OR length(password_hash) BETWEEN 20 AND 512),
    role text NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz,
    CHECK (is_active = (disabled_at IS NULL))
);
COMMENT ON TABLE genome.dashboard_users IS
'People who log in to the dashboard (genome users add|list|disable): each bound to one organization, with a role (viewer reads; reviewer also decides ads, curates exemplars, proposes experiments and acknowledges alerts; admin also approves calibrated review configs). The dashboard reads a user only through genome.dashboard_user (docs/security.md#dashboard-logins); no other role may read the password hashes.';
COMMENT ON COLUMN genome.dashboard_users.username IS
'Login name, unique across the platform (a user is found before their organization is known).';
COMMENT ON COLUMN genome.dashboard_users.password_hash IS
'A salted password hash (werkzeug.security, scrypt or pbkdf2) or NULL for a user who logs in only through the trusted single-sign-on header.';
