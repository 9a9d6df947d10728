-- Experiments, causal knowledge (docs/experiments.md), winner lineage (docs/evolution.md#lineage)
-- and generation A/B tests (docs/monitoring.md#generation-ab-tests).

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
    completed_at timestamptz
);
CREATE INDEX experiments_brand_status_idx ON genome.experiments (brand_id, status);
COMMENT ON TABLE genome.experiments IS
'Single-variable creative tests (docs/experiments.md#design): one test variable, control + 1-3 treatments, everything else held constant.';

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
    UNIQUE (experiment_id, arm_index),
    CHECK (total_clicks <= total_impressions)
);
COMMENT ON TABLE genome.experiment_arms IS 'Arms of an experiment: one ad set with one ad each (docs/experiments.md#design).';

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
    UNIQUE (experiment_id, treatment_value)
);
COMMENT ON TABLE genome.causal_effects IS
'Average treatment effects of completed experiments with 95% credible intervals (docs/experiments.md#causal-effects): the strongest evidence the genome has.';

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
    UNIQUE (parent_ad_id, child_ad_id)
);
CREATE INDEX ad_lineage_ancestor_idx ON genome.ad_lineage (ancestor_ad_id);
COMMENT ON TABLE genome.ad_lineage IS 'Winner evolution parent -> child (docs/evolution.md#lineage), with the one variable changed.';

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
'Prompt / pipeline A/B tests (docs/monitoring.md#generation-ab-tests): ad runs alternate control / variant by sequence within the brand.';

ALTER TABLE public.ad_runs
ADD CONSTRAINT ad_runs_generation_experiment_fk FOREIGN KEY (experiment_id)
REFERENCES genome.generation_experiments (id) NOT VALID;
ALTER TABLE public.ad_runs
ADD CONSTRAINT ad_runs_experiment_group_check
CHECK (experiment_group IS NULL OR experiment_group IN ('control', 'variant')) NOT VALID;
