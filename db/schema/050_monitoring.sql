-- Monitoring, drift and versioning (docs/monitoring.md): weekly validation results,
-- the alert evaluation type shared by every check, generation A/B analysis history, and the
-- settings those functions read.

CREATE TABLE genome.validation_results (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    week_start date NOT NULL CHECK (extract(ISODOW FROM week_start) = 1),
    iso_year integer NOT NULL,
    iso_week integer NOT NULL CHECK (iso_week BETWEEN 1 AND 53),
    computed_at timestamptz NOT NULL,
    launched_from date NOT NULL,
    launched_to date NOT NULL,
    n integer NOT NULL CHECK (n >= 0),
    spearman_rho double precision CHECK (spearman_rho BETWEEN -1 AND 1),
    ci_lower double precision,
    ci_upper double precision,
    ci_level double precision NOT NULL,
    sufficient boolean NOT NULL,
    below_threshold boolean,
    threshold double precision NOT NULL,
    UNIQUE (brand_id, week_start)
);
COMMENT ON TABLE genome.validation_results IS
'Prediction accuracy per brand and ISO week (docs/monitoring.md#validation): Spearman correlation of pre_gen_score with the matured CTR of ads launched prediction_lag_days or more before the run, with n and a Fisher-z interval. A re-run in the same week replaces that week''s row.';
COMMENT ON COLUMN genome.validation_results.sufficient IS
'n >= validation_min_ads and the correlation is defined; only sufficient weeks count toward (or against) the stale flag.';

CREATE TYPE genome.alert_evaluation AS (
    organization_id uuid,
    brand_id uuid,
    alert_type text,
    severity text,
    title text,
    metric_value double precision,
    details jsonb
);
COMMENT ON TYPE genome.alert_evaluation IS
'One evaluated health check for genome._sync_alerts: severity warning/critical raises or escalates the open alert, NULL means healthy (the open alert is auto_resolved). Checks that could not be evaluated are not passed at all.';

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
'History of generation A/B analyses (docs/monitoring.md#generation-ab-tests): per run the Mann-Whitney U tests on approval and matured reward and the decision taken.';

INSERT INTO genome.settings (key, value, description) VALUES
('validation_window_days', '28',
 'Prediction accuracy uses ads launched in the window of this many days ending prediction_lag_days before the run'),
('validation_min_ads', '10', 'Fewest ads for a weekly prediction-accuracy value to count'),
('stale_accuracy_threshold', '0.3',
 'Spearman below this for stale_weeks consecutive weeks marks the genome stale; at or above it clears the flag'),
('monitoring_ci_level', '0.95', 'Confidence level of validation and V1/V2 comparison intervals'),
('monitoring_min_ads', '10',
 'Fewest decided ads / finished generate jobs / matured V2 ads in a window for a rate to be evaluated'),
('alert_expiry_days', '14',
 'An open alert expires this many days after the check last confirmed it; expired alerts are no longer open'),
('generation_experiment_alpha', '0.05',
 'Two-sided significance level of the generation A/B Mann-Whitney U test'),
('generation_experiment_max_days', '60',
 'A generation experiment without a significant result after this many days completes with winner none'),
('generation_experiment_decision_metric',
 '{"prompt_version": "reward", "pipeline_config": "reward", "review_rubric": "approval_rate", "element_strategy": "reward"}',
 'Which metric decides a generation experiment of each type: matured reward or approval rate');
