-- Experiments (docs/experiments.md) and winner evolution (docs/evolution.md): the parameters of the power
-- analysis, the stopping rules and variable selection as settings rows, and the columns
-- the analysis and lineage record beyond 005.

INSERT INTO genome.settings (key, value, description) VALUES
('experiment_metrics',
 '{"link_ctr": {"successes": "clicks", "trials": "impressions", "default_baseline": 0.012, "data_lag_days": 1, "campaign_objective": "OUTCOME_TRAFFIC"}, "conversion_rate": {"successes": "purchases", "trials": "clicks", "default_baseline": 0.02, "data_lag_days": 7, "campaign_objective": "OUTCOME_SALES"}}',
 'Primary metrics an experiment can test: the Beta-Binomial successes / trials (link_ctr = clicks / impressions, a RATIO, not Meta''s percent), the baseline used when the brand has neither matured rewards nor ad_intelligence_baselines, how many days the newest insights lag before they count, and the Meta objective of the experiment campaign'),
('experiment_power', '0.80', 'Power of the two-proportion test the planned sample is sized for'),
('experiment_test_alpha', '0.05', 'Two-sided significance level of that power analysis'),
('experiment_baseline_min_impressions', '5000',
 'Matured impressions a brand needs before its own rewards give the baseline rate (else ad_intelligence_baselines, else the metric default)'),
('experiment_default_cpm', '12.0',
 'Cost per 1000 impressions used for the required spend when the brand has no recent spend, rewards or baselines'),
('experiment_cpm_lookback_days', '90', 'Days of the brand''s Meta insights its CPM is computed from'),
('experiment_significance_level', '0.90', 'Winner: the best arm''s P(best) must exceed this'),
('experiment_futility_prob_best', '0.05', 'An arm with P(best) below this (and its minimum sample) is recommended for pausing'),
('experiment_srm_alpha', '0.001',
 'Sample-ratio mismatch: chi-square p-value of arm impressions against the planned split below this holds every verdict and raises an alert'),
('experiment_mc_draws', '10000', 'Monte Carlo draws per arm for P(best), expected loss and effect intervals'),
('experiment_prior_strength', '2.0',
 'Sceptical prior: every arm starts at Beta centred on the baseline rate worth this many planned samples (k x planned trials); 0 gives the flat Beta(1,1). Daily peeking at P(best) > 0.90 with the flat prior declares a false winner in most A/A tests; k = 2 keeps it near 4% at about the design''s 80% power'),
('experiment_min_sample_fraction', '0.25',
 'An arm needs at least this share of its planned trials before a winner or futility can be declared'),
('experiment_min_impressions', '1000', 'and at least this many impressions'),
('experiment_max_sample_multiple', '1.0',
 'The experiment ends (inconclusive unless a winner) once every active arm has this multiple of its planned trials, or at max_days, whichever comes first: further peeking only inflates false winners'),
('evolution_test_sd', '0.07',
 'Standard deviation of the relative lift one evolution test measures (about mde / 2.8 for a test planned at mde 0.20): information gain is 1/2 log2(1 + sigma^2 / test_sd^2)'),
('evolution_noise_scale', '0.5',
 'Thompson noise on each variable''s score: standard deviation = this x the variable''s information gain'),
('evolution_cooldown_days', '7', 'evolve_winners gives a winner at most one new child per this many days'),
('winner_p75_min_ads', '10',
 'Matured ads a brand needs before its own CTR / ROAS distribution gives the p75 of the winner criteria (else ad_intelligence_baselines only)');

ALTER TABLE genome.experiments ADD COLUMN required_trials_per_arm bigint;
ALTER TABLE genome.experiments ADD COLUMN baseline_source text
CHECK (baseline_source IN ('rewards', 'baselines', 'default'));
ALTER TABLE genome.experiments ADD COLUMN cpm numeric(10, 4);
ALTER TABLE genome.experiments ADD COLUMN cpm_source text
CHECK (cpm_source IN ('performance', 'rewards', 'baselines', 'default'));
ALTER TABLE genome.experiments ADD COLUMN ad_run_id uuid REFERENCES public.ad_runs (id);
ALTER TABLE genome.experiments ADD COLUMN last_analyzed_at timestamptz;
COMMENT ON COLUMN genome.experiments.baseline_rate IS
'Baseline rate of the primary metric as a RATIO (successes / trials), from the brand''s matured rewards, ad_intelligence_baselines or the metric default (baseline_source).';
COMMENT ON COLUMN genome.experiments.required_trials_per_arm IS
'Planned sample per arm in trials of the metric (impressions for link_ctr, clicks for conversion_rate): two-proportion test at experiment_power.';
COMMENT ON COLUMN genome.experiments.required_spend IS
'Spend the planned sample needs across all arms: arms x required_impressions_per_arm x cpm / 1000.';
COMMENT ON COLUMN genome.experiments.ad_run_id IS 'The ad_run the arms'' ads were planned in.';

ALTER TABLE genome.causal_effects ADD COLUMN control_rate double precision;
ALTER TABLE genome.causal_effects ADD COLUMN treatment_rate double precision;
ALTER TABLE genome.causal_effects ADD COLUMN relative_ci_lower double precision;
ALTER TABLE genome.causal_effects ADD COLUMN relative_ci_upper double precision;
ALTER TABLE genome.causal_effects ADD COLUMN verdict text;
CREATE INDEX causal_effects_brand_variable_idx ON genome.causal_effects (brand_id, test_variable);
COMMENT ON COLUMN genome.causal_effects.effect_size IS
'Posterior mean of treatment rate - control rate (RATIO units of the primary metric).';
COMMENT ON COLUMN genome.causal_effects.relative_ci_lower IS
'2.5% quantile of treatment / control - 1 (posterior draws).';

ALTER TABLE genome.ad_lineage ADD COLUMN selection jsonb;
CREATE INDEX ad_lineage_parent_idx ON genome.ad_lineage (parent_ad_id);
CREATE UNIQUE INDEX ad_lineage_child_idx ON genome.ad_lineage (child_ad_id);
COMMENT ON COLUMN genome.ad_lineage.selection IS
'How the variable was chosen: per candidate variable its information gain, strategic weight, noise and score; per value its lift belief and Thompson draw.';
