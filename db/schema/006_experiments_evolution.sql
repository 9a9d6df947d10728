-- Single-variable creative experiments and their analyses, causal knowledge, winner lineage,
-- and generation (prompt / pipeline) A/B tests with their analyses.

CREATE TABLE genome.experiments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    product_id uuid REFERENCES public.products (id),
    name text NOT NULL,
    hypothesis text NOT NULL,
    test_variable text NOT NULL REFERENCES genome.element_dimensions (dimension),
    status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'deploying', 'running', 'analyzing', 'completed', 'cancelled')),
    verdict text CHECK (verdict IN ('winner', 'inconclusive', 'cancelled')),
    hold_constant jsonb NOT NULL DEFAULT '{}',
    audience_config jsonb DEFAULT '{}',
    deployment_plan jsonb NOT NULL DEFAULT '{}',
    budget_per_arm_daily numeric(10, 2) CHECK (budget_per_arm_daily > 0),
    max_days integer NOT NULL DEFAULT 14 CHECK (max_days > 0),
    primary_metric text NOT NULL DEFAULT 'link_ctr',
    mde numeric(6, 4) NOT NULL DEFAULT 0.20 CHECK (mde > 0),
    baseline_rate double precision,
    required_impressions_per_arm bigint,
    required_spend numeric(12, 2),
    over_budget boolean NOT NULL DEFAULT false,
    significance_level numeric(4, 3) NOT NULL DEFAULT 0.90,
    meta_campaign_id text,
    winning_arm_id uuid,
    result_summary jsonb,
    srm_p_value double precision,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    required_trials_per_arm bigint,
    baseline_source text CHECK (baseline_source IN ('rewards', 'baselines', 'default')),
    cpm numeric(10, 4),
    cpm_source text CHECK (cpm_source IN ('performance', 'rewards', 'baselines', 'default')),
    ad_run_id uuid REFERENCES public.ad_runs (id),
    last_analyzed_at timestamptz,
    scope text NOT NULL DEFAULT 'element' CHECK (scope IN ('element', 'ad_level')),
    ads_per_arm integer CHECK (ads_per_arm >= 1),
    cancelled_at timestamptz,
    cancel_reason text
);
CREATE INDEX experiments_brand_status_idx ON genome.experiments (brand_id, status);
COMMENT ON TABLE genome.experiments IS
'Single-variable creative tests: one test variable, control + 1-3 treatments, everything else held constant.';
COMMENT ON COLUMN genome.experiments.baseline_rate IS
'Baseline rate of the primary metric as a RATIO (successes / trials), from the brand''s matured rewards, ad_intelligence_baselines or the metric default (baseline_source).';
COMMENT ON COLUMN genome.experiments.required_trials_per_arm IS
'Planned sample per arm in trials of the metric (impressions for link_ctr, clicks for conversion_rate): two-proportion test at experiment_power.';
COMMENT ON COLUMN genome.experiments.required_spend IS
'Spend the planned sample needs across all arms: arms x required_impressions_per_arm x cpm / 1000.';
COMMENT ON COLUMN genome.experiments.ad_run_id IS 'The ad_run the arms'' ads were planned in.';
COMMENT ON COLUMN genome.experiments.scope IS
'element when every arm has at least experiment_min_ads_per_arm ads (its result is the element''s and goes to causal_effects); ad_level with fewer: the arms measure their ads, and the result stays out of causal_effects (docs/experiments.md#ad-level).';
COMMENT ON COLUMN genome.experiments.ads_per_arm IS 'Ads planned per arm by propose_experiment.';
COMMENT ON COLUMN genome.experiments.cancel_reason IS 'Why genome.cancel_experiment stopped it (cancelled_at: when).';

CREATE TABLE genome.experiment_arms (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    experiment_id uuid NOT NULL REFERENCES genome.experiments (id) ON DELETE CASCADE,
    arm_name text NOT NULL,
    arm_index integer NOT NULL CHECK (arm_index BETWEEN 0 AND 3),
    test_variable_value text NOT NULL,
    element_tags jsonb NOT NULL DEFAULT '{}',
    generated_ad_id uuid REFERENCES public.generated_ads (id),
    meta_adset_id text,
    planned_share double precision NOT NULL DEFAULT 0.5,
    total_impressions bigint NOT NULL DEFAULT 0 CHECK (total_impressions >= 0),
    total_clicks bigint NOT NULL DEFAULT 0 CHECK (total_clicks >= 0),
    total_spend numeric(12, 2) NOT NULL DEFAULT 0 CHECK (total_spend >= 0),
    total_conversions integer NOT NULL DEFAULT 0 CHECK (total_conversions >= 0),
    ctr numeric(8, 6),
    roas numeric(8, 4),
    posterior_mean numeric(10, 6),
    prob_best numeric(6, 4),
    expected_loss double precision,
    recommendation text CHECK (recommendation IN ('continue', 'pause', 'winner')),
    created_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    planned_budget_daily numeric(10, 2) CHECK (planned_budget_daily >= 0),
    paused_at timestamptz,
    UNIQUE (experiment_id, arm_index),
    CHECK (total_clicks <= total_impressions)
);
COMMENT ON TABLE genome.experiment_arms IS
'Arms of an experiment: one ad set each, with its ads in experiment_arm_ads (generated_ad_id is the arm''s first ad).';
COMMENT ON COLUMN genome.experiment_arms.planned_share IS
'The arm''s share of the current plan: planned_budget_daily / the active arms'' total; 0 once paused (docs/experiments.md#srm).';
COMMENT ON COLUMN genome.experiment_arms.planned_budget_daily IS
'The daily budget the plan gives the arm''s ad set now (0 once paused; NULL for an experiment made without a plan).';

CREATE TABLE genome.experiment_arm_ads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id uuid NOT NULL REFERENCES genome.experiments (id) ON DELETE CASCADE,
    arm_index integer NOT NULL,
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'replaced')),
    added_at timestamptz NOT NULL DEFAULT now(),
    replaced_at timestamptz,
    UNIQUE (experiment_id, generated_ad_id),
    FOREIGN KEY (experiment_id, arm_index) REFERENCES genome.experiment_arms (experiment_id, arm_index)
);
COMMENT ON TABLE genome.experiment_arm_ads IS
'The ads of each experiment arm (several creatives of the arm''s element value, docs/experiments.md#ad-level); a replaced ad keeps its row (status replaced) and the data it gathered still counts for its arm.';

CREATE TABLE genome.experiment_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id uuid NOT NULL REFERENCES genome.experiments (id) ON DELETE CASCADE,
    arm_index integer,
    event_type text NOT NULL CHECK (event_type IN ('pause_arm', 'replace_ad', 'cancel')),
    source text NOT NULL CHECK (source IN ('person', 'futility')),
    reason text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (experiment_id, arm_index) REFERENCES genome.experiment_arms (experiment_id, arm_index)
);
CREATE INDEX experiment_events_experiment_idx ON genome.experiment_events (experiment_id, created_at);
COMMENT ON TABLE genome.experiment_events IS
'History of the changes made to an experiment while it runs: arms paused (by a person or for futility), ads replaced, cancellation; each with its reason and the plan or ads before and after (details).';

CREATE TABLE genome.experiment_analyses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id uuid NOT NULL REFERENCES genome.experiments (id) ON DELETE CASCADE,
    analysis_date date NOT NULL,
    analyzed_at timestamptz NOT NULL,
    arms jsonb NOT NULL,
    decision text NOT NULL,
    srm_p_value double precision,
    UNIQUE (experiment_id, analysis_date)
);
COMMENT ON TABLE genome.experiment_analyses IS 'Daily posterior snapshots of each experiment (history of P(best)).';

CREATE TABLE genome.causal_effects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    experiment_id uuid NOT NULL REFERENCES genome.experiments (id),
    test_variable text NOT NULL,
    control_value text NOT NULL,
    treatment_value text NOT NULL,
    primary_metric text NOT NULL,
    effect_size numeric(10, 6) NOT NULL,
    relative_effect numeric(10, 4),
    ci_lower numeric(10, 6),
    ci_upper numeric(10, 6),
    posterior_prob_positive numeric(6, 4),
    control_n integer NOT NULL,
    treatment_n integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    control_rate double precision,
    treatment_rate double precision,
    relative_ci_lower double precision,
    relative_ci_upper double precision,
    verdict text,
    UNIQUE (experiment_id, treatment_value)
);
CREATE INDEX causal_effects_brand_variable_idx ON genome.causal_effects (brand_id, test_variable);
COMMENT ON TABLE genome.causal_effects IS
'Average treatment effects of completed experiments with 95% credible intervals: the strongest evidence the genome has.';
COMMENT ON COLUMN genome.causal_effects.effect_size IS
'Posterior mean of treatment rate - control rate (RATIO units of the primary metric).';
COMMENT ON COLUMN genome.causal_effects.relative_ci_lower IS
'2.5% quantile of treatment / control - 1 (posterior draws).';

CREATE TABLE genome.ad_lineage (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    parent_ad_id uuid NOT NULL REFERENCES public.generated_ads (id),
    child_ad_id uuid NOT NULL REFERENCES public.generated_ads (id),
    ancestor_ad_id uuid NOT NULL REFERENCES public.generated_ads (id),
    evolution_type text NOT NULL CHECK (evolution_type IN (
        'iteration', 'amplification', 'refresh', 'cross_size', 'rotation', 'counter_creative'
    )),
    variable_changed text,
    variable_from text,
    variable_to text,
    iteration_round integer NOT NULL DEFAULT 1 CHECK (iteration_round >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    selection jsonb,
    UNIQUE (parent_ad_id, child_ad_id)
);
CREATE INDEX ad_lineage_ancestor_idx ON genome.ad_lineage (ancestor_ad_id);
CREATE INDEX ad_lineage_parent_idx ON genome.ad_lineage (parent_ad_id);
CREATE UNIQUE INDEX ad_lineage_child_idx ON genome.ad_lineage (child_ad_id);
COMMENT ON TABLE genome.ad_lineage IS 'Winner evolution parent -> child, with the one variable changed.';
COMMENT ON COLUMN genome.ad_lineage.selection IS
'How the variable was chosen: per candidate variable its information gain, strategic weight, noise and score; per value its lift belief and Thompson draw.';

CREATE TABLE genome.generation_experiments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    name text NOT NULL,
    status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('draft', 'active', 'completed', 'cancelled')),
    experiment_type text NOT NULL
    CHECK (experiment_type IN ('prompt_version', 'pipeline_config', 'review_rubric', 'element_strategy')),
    control_config jsonb NOT NULL,
    variant_config jsonb NOT NULL,
    split_ratio numeric(3, 2) DEFAULT 0.50,
    control_metrics jsonb,
    variant_metrics jsonb,
    winner text CHECK (winner IN ('control', 'variant', 'none')),
    confidence numeric(4, 3),
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    min_sample_size integer NOT NULL DEFAULT 20 CHECK (min_sample_size > 0)
);
CREATE UNIQUE INDEX generation_experiments_one_active_idx
ON genome.generation_experiments (brand_id) WHERE status = 'active';
COMMENT ON TABLE genome.generation_experiments IS
'Prompt / pipeline A/B tests: ad runs alternate control / variant by sequence within the brand.';

CREATE TABLE genome.generation_experiment_analyses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id uuid NOT NULL REFERENCES genome.generation_experiments (id) ON DELETE CASCADE,
    analysis_date date NOT NULL,
    analyzed_at timestamptz NOT NULL,
    decision_metric text NOT NULL CHECK (decision_metric IN ('reward', 'approval_rate')),
    tests jsonb NOT NULL,
    decision text NOT NULL CHECK (decision IN ('continue', 'control', 'variant', 'none')),
    UNIQUE (experiment_id, analysis_date)
);
COMMENT ON TABLE genome.generation_experiment_analyses IS
'History of generation A/B analyses: per run the Mann-Whitney U tests on approval and matured reward and the decision taken.';

-- The app's ad_runs name the generation experiment and group they ran in (additive and NOT
-- VALID like db/schema/001_app_tables.sql: the app's rows predate the experiments).
ALTER TABLE public.ad_runs
ADD CONSTRAINT ad_runs_generation_experiment_fk FOREIGN KEY (experiment_id)
REFERENCES genome.generation_experiments (id) NOT VALID;
ALTER TABLE public.ad_runs
ADD CONSTRAINT ad_runs_experiment_group_check
CHECK (experiment_group IS NULL OR experiment_group IN ('control', 'variant')) NOT VALID;
