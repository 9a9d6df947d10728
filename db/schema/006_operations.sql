-- Operations: the agents' work queue, scheduled-job log, model-call accounting, alerts.

CREATE TABLE genome.agent_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL
    CHECK (kind IN ('generate', 'defect_scan', 'review', 'second_opinion', 'embed', 'noop')),
    generated_ad_id uuid REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    payload jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    leased_by text,
    last_error text,
    errors jsonb NOT NULL DEFAULT '[]',
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK (status <> 'running' OR (leased_until IS NOT NULL AND leased_by IS NOT NULL))
);
-- One job of each pipeline stage per ad: a retried stage never enqueues its successor twice.
CREATE UNIQUE INDEX agent_jobs_ad_kind_idx ON genome.agent_jobs (generated_ad_id, kind)
WHERE generated_ad_id IS NOT NULL;
CREATE INDEX agent_jobs_claim_idx ON genome.agent_jobs (kind, run_after) WHERE status = 'queued';
CREATE INDEX agent_jobs_lease_idx ON genome.agent_jobs (leased_until) WHERE status = 'running';
COMMENT ON TABLE genome.agent_jobs IS
'Work queue of the Python agents: claimed with FOR UPDATE SKIP LOCKED under a lease, retried with backoff, dead-lettered after max_attempts with every error kept.';
COMMENT ON COLUMN genome.agent_jobs.errors IS 'Every failed attempt: attempt number, time, error text.';

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
    description text NOT NULL
);
COMMENT ON TABLE genome.job_schedules IS
'The named scheduled jobs, the genome functions each runs (called with p_now, in order) and what they do; genome.run_job accepts only these names. Their pg_cron schedules (UTC) are in db/jobs.';
INSERT INTO genome.job_schedules VALUES
('genome_collect', '{collect_rewards}',
 'Daily after meta_sync: collect_rewards (matured rewards, V1 tag backfill)'),
('creative_genome_update', '{update_scores}',
 'Weekly: update_scores (alpha/beta, priors, combos, win probabilities)'),
('experiment_analysis', '{analyze_experiments}', 'Daily: analyze_experiments'),
('genome_validation', '{validate,run_monitoring,analyze_generation_experiments}',
 'Weekly: validate, run_monitoring and generation A/B analysis'),
('quality_calibration', '{calibrate_all_quality}', 'Weekly: calibrate_quality per organization'),
('winner_evolution', '{evolve_winners}', 'Weekly: find_winners and evolve'),
('reap_jobs', '{reap_jobs}', 'Every minute: expired agent leases back to the queue');

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

CREATE TABLE genome.system_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid REFERENCES public.brands (id),
    alert_type text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    metric_value double precision,
    status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'acknowledged', 'resolved', 'auto_resolved')),
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE UNIQUE INDEX system_alerts_one_open_idx
ON genome.system_alerts (
    organization_id, coalesce(brand_id, '00000000-0000-0000-0000-000000000000'), alert_type
)
WHERE status IN ('active', 'acknowledged');
COMMENT ON TABLE genome.system_alerts IS
'Health alerts (docs/monitoring.md#alerts): one open alert per (organization, brand, type); worse severity updates it; auto_resolved when the metric recovers.';

CREATE TABLE genome.style_clusters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    computed_at timestamptz NOT NULL,
    cluster_label integer NOT NULL,
    size integer NOT NULL CHECK (size > 0),
    member_ad_ids uuid [] NOT NULL,
    mean_reward double precision,
    reward_ci_low double precision,
    reward_ci_high double precision,
    UNIQUE (brand_id, computed_at, cluster_label)
);
COMMENT ON TABLE genome.style_clusters IS 'DBSCAN style clusters of approved-ad embeddings (docs/quality.md#visual-space); label -1 is noise.';
