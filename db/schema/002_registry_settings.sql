-- Registries and configuration: every tunable is a row, not a constant. Every
-- genome.settings row is here, grouped by the part of the system that reads it.

CREATE TABLE genome.element_dimensions (
    dimension text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('element', 'context', 'attribute', 'identifier')),
    strategic_weight numeric(4, 2) NOT NULL DEFAULT 0.5
    CHECK (strategic_weight >= 0 AND strategic_weight <= 1),
    description text NOT NULL
);
COMMENT ON TABLE genome.element_dimensions IS
'Registry of element_tags keys. element: chosen by the bandit and scored; context: used for attribution strata; attribute: validated and recorded only; identifier: free identifiers (never arms).';
COMMENT ON COLUMN genome.element_dimensions.strategic_weight IS
'How much a change of this dimension matters when choosing what to test next (belief_angle 1.0, hook_type 0.9, color_mode 0.4).';

CREATE TABLE genome.element_values (
    dimension text NOT NULL REFERENCES genome.element_dimensions (dimension),
    value text NOT NULL,
    description text,
    PRIMARY KEY (dimension, value)
);
COMMENT ON TABLE genome.element_values IS
'Allowed values per dimension; unknown values are an error.';

CREATE TABLE genome.element_value_aliases (
    dimension text NOT NULL,
    alias text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (dimension, alias),
    FOREIGN KEY (dimension, value) REFERENCES genome.element_values (dimension, value)
);
COMMENT ON TABLE genome.element_value_aliases IS
'Other spellings that code paths use for a value; resolved to the canonical value so one idea is one arm.';

INSERT INTO genome.element_dimensions (dimension, kind, strategic_weight, description) VALUES
('belief_angle', 'element', 1.0, 'The belief the ad works on'),
('hook_type', 'element', 0.9, 'The opening hook'),
('template_category', 'element', 0.7, 'Layout family of the template'),
('visual_style', 'element', 0.5, 'Rendering style of the image'),
('color_mode', 'element', 0.4, 'Palette strategy'),
('awareness_stage', 'context', 0, 'Audience awareness stage (Schwartz)'),
('audience_type', 'context', 0, 'Targeting of the ad set'),
('canvas_size', 'attribute', 0, 'Output size'),
('content_source', 'attribute', 0, 'Which generation path produced the copy'),
('creative_direction', 'identifier', 0, 'Free-form creative direction id'),
('persona_id', 'identifier', 0, 'Persona id'),
('template_id', 'identifier', 0, 'Template id'),
('prompt_version', 'identifier', 0, 'Prompt template version');

INSERT INTO genome.element_values (dimension, value)
SELECT
    'hook_type' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'curiosity_gap', 'social_proof', 'authority', 'urgency', 'scarcity',
    'fear_of_missing_out', 'transformation', 'before_after', 'problem_solution',
    'testimonial', 'statistic', 'question', 'bold_claim', 'story', 'direct_benefit'
]) AS v
UNION ALL
SELECT
    'belief_angle' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'identity', 'aspiration', 'fear_of_loss', 'value_for_money', 'scientific_proof',
    'convenience', 'social_belonging', 'natural_purity'
]) AS v
UNION ALL
SELECT
    'template_category' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'Testimonial', 'Problem-Solution', 'Before-After', 'Lifestyle', 'Product-Focus',
    'Comparison', 'Educational', 'Infographic', 'Minimal-Text', 'UGC-Style',
    'Professional', 'Collage'
]) AS v
UNION ALL
SELECT
    'visual_style' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'photographic', 'illustration', 'flat_graphic', 'render_3d', 'ugc_phone', 'minimal'
]) AS v
UNION ALL
SELECT
    'color_mode' AS dimension,
    v AS value
FROM unnest(ARRAY['original', 'complementary', 'brand']) AS v
UNION ALL
SELECT
    'awareness_stage' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'unaware', 'problem_aware', 'solution_aware', 'product_aware', 'most_aware'
]) AS v
UNION ALL
SELECT
    'audience_type' AS dimension,
    v AS value
FROM unnest(ARRAY['broad', 'interest', 'lookalike', 'retargeting']) AS v
UNION ALL
SELECT
    'canvas_size' AS dimension,
    v AS value
FROM unnest(ARRAY['1080x1080px', '1080x1350px', '1080x1920px']) AS v
UNION ALL
SELECT
    'content_source' AS dimension,
    v AS value
FROM unnest(ARRAY[
    'hooks', 'recreate_template', 'belief_first', 'plan', 'angles', 'translation'
]) AS v;

INSERT INTO genome.element_value_aliases (dimension, alias, value) VALUES
('hook_type', 'curiosity', 'curiosity_gap'),
('hook_type', 'fomo', 'fear_of_missing_out'),
('hook_type', 'before_and_after', 'before_after'),
('hook_type', 'problem-solution', 'problem_solution'),
('hook_type', 'problem_and_solution', 'problem_solution'),
('hook_type', 'stat', 'statistic'),
('hook_type', 'benefit', 'direct_benefit'),
('hook_type', 'social-proof', 'social_proof'),
('color_mode', 'brand_colors', 'brand'),
('color_mode', 'original_colors', 'original'),
('template_category', 'testimonial', 'Testimonial'),
('template_category', 'problem_solution', 'Problem-Solution'),
('template_category', 'before_after', 'Before-After'),
('template_category', 'lifestyle', 'Lifestyle'),
('template_category', 'product_focus', 'Product-Focus'),
('template_category', 'comparison', 'Comparison'),
('template_category', 'educational', 'Educational'),
('template_category', 'infographic', 'Infographic'),
('template_category', 'minimal_text', 'Minimal-Text'),
('template_category', 'ugc', 'UGC-Style'),
('template_category', 'ugc_style', 'UGC-Style'),
('template_category', 'professional', 'Professional'),
('template_category', 'collage', 'Collage'),
('canvas_size', '1080x1080', '1080x1080px'),
('canvas_size', '1080x1350', '1080x1350px'),
('canvas_size', '1080x1920', '1080x1920px'),
('visual_style', '3d', 'render_3d'),
('visual_style', 'ugc', 'ugc_phone');

-- Reward configuration.
CREATE TABLE genome.objective_map (
    meta_objective text PRIMARY KEY,
    reward_objective text NOT NULL
    CHECK (reward_objective IN ('CONVERSIONS', 'TRAFFIC', 'BRAND_AWARENESS'))
);
COMMENT ON TABLE genome.objective_map IS
'Maps Meta''s raw campaign objectives (OUTCOME_* and legacy) onto reward objectives.';
INSERT INTO genome.objective_map VALUES
('OUTCOME_SALES', 'CONVERSIONS'),
('OUTCOME_LEADS', 'CONVERSIONS'),
('OUTCOME_APP_PROMOTION', 'CONVERSIONS'),
('CONVERSIONS', 'CONVERSIONS'),
('PRODUCT_CATALOG_SALES', 'CONVERSIONS'),
('LEAD_GENERATION', 'CONVERSIONS'),
('OUTCOME_TRAFFIC', 'TRAFFIC'),
('LINK_CLICKS', 'TRAFFIC'),
('TRAFFIC', 'TRAFFIC'),
('OUTCOME_ENGAGEMENT', 'TRAFFIC'),
('POST_ENGAGEMENT', 'TRAFFIC'),
('OUTCOME_AWARENESS', 'BRAND_AWARENESS'),
('BRAND_AWARENESS', 'BRAND_AWARENESS'),
('REACH', 'BRAND_AWARENESS'),
('VIDEO_VIEWS', 'BRAND_AWARENESS');

CREATE TABLE genome.reward_metrics (
    metric text PRIMARY KEY CHECK (metric IN ('ctr', 'conversion_rate', 'roas', 'cpm')),
    maturation_days integer NOT NULL CHECK (maturation_days >= 0),
    min_impressions integer NOT NULL CHECK (min_impressions >= 0),
    higher_is_better boolean NOT NULL,
    default_p25 numeric NOT NULL,
    default_p75 numeric NOT NULL,
    unit text NOT NULL,
    CHECK (default_p75 > default_p25)
);
COMMENT ON TABLE genome.reward_metrics IS
'Reward components: maturation window (days since the ad''s first impression) and minimum impressions, and default p25/p75 used when a brand has no baseline. All rates are RATIOS here.';
INSERT INTO genome.reward_metrics VALUES
('ctr', 3, 500, true, 0.008, 0.018, 'ratio (clicks / impressions)'),
('conversion_rate', 7, 500, true, 0.010, 0.040, 'ratio (purchases / clicks)'),
('roas', 10, 500, true, 0.8, 2.5, 'purchase value / spend'),
('cpm', 3, 500, false, 8.0, 20.0, 'spend per 1000 impressions');

CREATE TABLE genome.reward_weights (
    reward_objective text NOT NULL
    CHECK (reward_objective IN ('CONVERSIONS', 'TRAFFIC', 'BRAND_AWARENESS')),
    metric text NOT NULL REFERENCES genome.reward_metrics (metric),
    weight numeric(4, 3) NOT NULL CHECK (weight > 0 AND weight <= 1),
    PRIMARY KEY (reward_objective, metric)
);
COMMENT ON TABLE genome.reward_weights IS 'Composite reward weights per objective.';
INSERT INTO genome.reward_weights VALUES
('CONVERSIONS', 'ctr', 0.2), ('CONVERSIONS', 'conversion_rate', 0.3),
('CONVERSIONS', 'roas', 0.5),
('TRAFFIC', 'ctr', 0.7), ('TRAFFIC', 'conversion_rate', 0.1), ('TRAFFIC', 'roas', 0.2),
('BRAND_AWARENESS', 'ctr', 0.5), ('BRAND_AWARENESS', 'cpm', 0.5);

CREATE TABLE genome.settings (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE genome.settings IS
'Named thresholds and parameters of the learning loop, with the seed''s values as defaults.';
INSERT INTO genome.settings (key, value, description) VALUES
-- The learning loop, the agents' queue, evolution limits, quality calibration, monitoring.
('default_reward_objective', '"CONVERSIONS"', 'Objective used when a campaign has none that maps'),
('success_threshold', '0.5', 'reward >= this counts as a success (alpha += 1), else beta'),
('imported_ad_weight', '0.5', 'Weight of imported (non-generated) ads in alpha/beta'),
(
    'learner', '"joint_logistic"',
    'Which learner update_scores runs: joint_logistic (per-ad evidence, all dimensions jointly) or beta_bernoulli (one bit per ad, per dimension)'
),
(
    'learner_half_life_candidates', '[null]',
    'Joint learner: half-lives (days; null: no decay) each brand''s fit chooses from by prequential log-likelihood of its newest ads; one candidate is used as it is (default: no decay)'
),
('learner_half_life_days', '14', 'Joint learner: the half-life (days) used while a brand has too few recent ads to choose one'),
(
    'learner_half_life_refresh_days', '7',
    'Joint learner: days a half-life the data chose is kept before the candidates are scored again (0: scored at every fit)'
),
('learner_holdout_days', '7', 'Joint learner: width of each window of newest ads the half-life candidates predict'),
('learner_holdout_folds', '3', 'Joint learner: number of such windows, newest first (two must have enough ads)'),
('learner_prior_sd', '1.0', 'Joint learner: prior sd of each element value''s effect on the log-odds'),
('learner_intercept_prior_sd', '2.0', 'Joint learner: prior sd of each objective''s intercept (log-odds)'),
('learner_min_dispersion', '1.0', 'Joint learner: floor of the estimated overdispersion factor'),
('revision_window_days', '28', 'Meta restates insights this many days back; rewards are revised within it'),
('category_prior_shrinkage', '0.3', 'Category prior counts are multiplied by this'),
('prior_n_level3', '10', 'At level 3 the prior is rescaled to this many pseudo-observations'),
('brand_weight_n', '100', 'brand_weight = min(n / brand_weight_n, brand_weight_cap)'),
('brand_weight_cap', '0.8', 'Upper bound of brand_weight at level 2'),
('level2_days', '14', 'Days since first matured reward to reach level 2'),
('level3_days', '30', 'Days since first matured reward to reach level 3'),
(
    'learning_refresh_days', '7',
    'update_scores recomputes a brand whose inputs did not change at least this often (the joint learner''s decay moves with time)'
),
('exploration_start', '0.30', 'exploration_boost at 0 matured ads (learner beta_bernoulli)'),
(
    'learner_exploration_start', '0',
    'exploration_boost at 0 matured ads under the joint learner (its Thompson draws explore by themselves)'
),
('exploration_floor', '0.05', 'exploration_boost never falls below this (learner beta_bernoulli)'),
(
    'learner_exploration_floor', '0',
    'exploration_boost never falls below this under the joint learner (its Thompson draws explore by themselves)'
),
('exploration_scale', '100', 'exploration_boost = max(floor, start * exp(-matured / scale))'),
('forced_exploration_ads', '30', 'The first N ads of a brand are explored at forced_exploration_rate'),
('forced_exploration_rate', '0.30', 'Random share of the first ads of a brand'),
('win_probability_draws', '10000', 'Monte Carlo draws for each value''s probability of winning the Thompson draw'),
('attribution_min_strata', '3', 'Effects must agree in direction across at least this many strata'),
('attribution_spend_buckets', '[20, 100, 500]', 'Spend bucket edges for attribution strata'),
('interaction_top_n', '15', 'Number of element pairs returned by genome.interactions'),
('combo_min_n', '3', 'Minimum rewards for an element combo row'),
('duplicate_cosine', '0.95', 'Approved ad of the same brand this close: flagged as duplicate'),
('diversity_cosine', '0.90', 'Sibling of the same run this close: rejected for diversity'),
('job_lease_seconds', '120', 'Default agent job lease'),
('job_max_attempts', '3', 'Default agent job attempts before dead-letter'),
('job_backoff_base_seconds', '5', 'Retry backoff base: base * 2^(attempt-1), with jitter'),
('job_max_lease_seconds', '3600',
 'Longest lease claim_jobs and heartbeat_job grant; a longer one is refused (GN421)'),
('job_max_delay_seconds', '604800',
 'Furthest in the future enqueue_job may schedule a job (run_after), in seconds (GN421)'),
('max_queued_jobs_per_organization', '10000',
 'Queued agent jobs one organization may have at once; new work beyond it is refused (GN414) so one organization cannot starve the others'),
('max_payload_bytes', '1048576',
 'Largest text argument (review, notes, descriptor) an agent function accepts, in bytes'),
('winner_min_matured_days', '7', 'A winner has at least this many matured days of data'),
('winner_min_impressions', '1000', 'A winner has at least this many impressions'),
('winner_min_reward', '0.65', 'A winner''s matured reward is at least this (or its CTR or ROAS is at the brand''s p75)'),
('max_iterations_per_winner', '5', 'Evolution: children one winner may have at most'),
('max_rounds_per_ancestor', '3', 'Evolution: iteration rounds below one ancestor at most'),
('calibration_min_overrides', '20', 'Fewest overrides a calibration will learn from'),
('calibration_fn_weight', '2', 'False negatives cost this many false positives'),
('prediction_lag_days', '14', 'Prediction accuracy uses ads launched this many days before'),
('stale_weeks', '3', 'Weeks of low prediction accuracy before the genome is stale'),
-- Experiments and winner evolution: power analysis, stopping rules, variable selection.
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
 'Sample-ratio mismatch: chi-square p-value of the active arms'' spend (in impressions at their pooled CPM) against their planned budget shares below this (and a share off by experiment_srm_min_deviation) holds the verdict until max_days and raises an alert; the same test on impressions only reports a delivery imbalance'),
('experiment_srm_min_deviation', '0.10',
 'Sample-ratio mismatch also needs an active arm''s spend share off its planned budget share by this fraction of that share: Meta paces spend within a few percent of the budget, which a chi-square on a large sample alone would call a mismatch'),
('experiment_min_ads_per_arm', '3',
 'Ads (creatives) per arm an experiment needs to measure the element rather than one ad: propose_experiment plans this many; with fewer the experiment is ad_level and its result stays out of causal_effects'),
('experiment_mc_draws', '10000', 'Checked only (at least 100): P(best), expected loss and effect intervals are integrated numerically, the values this many Monte Carlo draws per arm would approach'),
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
 'Matured ads a brand needs before its own CTR / ROAS distribution gives the p75 of the winner criteria (else ad_intelligence_baselines only)'),
-- Quality learning and the visual space: threshold calibration, exemplar limits,
-- nearest neighbours, style clusters.
(
    'calibration_check_grid', '{"min": 0, "max": 10, "step": 0.5}',
    'Candidate per-check thresholds tried by calibrate_quality (the parent''s value is always a candidate too)'
),
(
    'calibration_pass_grid', '{"min": 4, "max": 9.5, "step": 0.25}',
    'Candidate weighted pass thresholds tried by calibrate_quality (the parent''s value is always a candidate too)'
),
(
    'calibration_max_sweeps', '20',
    'Coordinate-descent sweeps over the thresholds at most (stops earlier when a sweep changes nothing)'
),
('exemplar_limit_gold_approve', '10', 'Active gold_approve exemplars per brand at most'),
('exemplar_limit_gold_reject', '10', 'Active gold_reject exemplars per brand at most'),
('exemplar_limit_edge_case', '10', 'Active edge_case exemplars per brand at most (5-10 recommended)'),
('exemplar_limit_total', '30', 'Active exemplars per brand at most, all types together (20-30 recommended)'),
('knn_max_k', '100', 'Largest k accepted by similar_exemplars and more_like_this'),
(
    'knn_ef_search', '100',
    'hnsw.ef_search for the exemplar and more-like-this searches (candidate list size; recall vs speed)'
),
('style_cluster_eps', '0.12', 'DBSCAN eps for style clusters, as cosine distance (1 - cosine similarity)'),
('style_cluster_min_samples', '3', 'DBSCAN min_samples for style clusters (a core ad needs this many within eps, itself included)'),
('style_cluster_ci_level', '0.95', 'Confidence level of the Student-t interval of a style cluster''s mean matured reward'),
-- Monitoring, drift and generation A/B tests.
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
 'Overall two-sided false-positive rate of a generation A/B test across all its weekly looks (alpha spending, docs/experiments.md#generation-ab-tests)'),
('generation_experiment_spending_rho', '1',
 'Shape of the generation A/B alpha-spending function alpha * t^rho (t = elapsed days / max_days): 1 spends evenly over time, 3 saves most for the end'),
('generation_experiment_min_runs', '3',
 'Fewest ad runs with data per arm before a generation A/B look tests (runs are the units of the test)'),
('generation_prompt_templates', '["v2.0", "v2.1"]',
 'Prompt template versions the agents know (agents/providers/prompts.py); a generation A/B arm may name only these'),
('generation_experiment_max_days', '60',
 'A generation experiment without a significant result after this many days completes with winner none'),
('generation_experiment_decision_metric',
 '{"prompt_version": "reward", "pipeline_config": "reward", "review_rubric": "approval_rate", "element_strategy": "reward"}',
 'Which metric decides a generation experiment of each type: matured reward or approval rate'),
-- Autonomy: empirical-Bayes priors, creative fatigue, refresh planning, whitespace.
('category_prior_method', '"empirical_bayes"',
 'fixed: peers'' evidence x category_prior_shrinkage; empirical_bayes: shrinkage from the between-brand variance, clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]'),
('category_prior_shrinkage_floor', '0.02',
 'Empirical Bayes never keeps less than this share of the peers'' evidence'),
('prior_min_peer_brands', '5',
 'A category prior for a value needs evidence from at least this many opted-in peer brands of organizations other than the receiving brand''s (docs/learning.md#private-priors); below it no prior row'),
('prior_min_peer_organizations', '3',
 'and from at least this many organizations other than the receiving brand''s'),
('prior_count_granularity', '10',
 'Category priors publish the peers'' summed successes and failures rounded to two significant figures and to a multiple of this, whichever is coarser'),
('fatigue_ctr_drop', '0.20', 'An ad is fatigued when its CTR fell at least this share below its first matured week'),
('fatigue_frequency_threshold', '1.6',
 'and its estimated lifetime frequency (impressions per person reached) passed this'),
('fatigue_baseline_days', '7', 'Length of the first matured week (days of delivery) the CTR is compared against'),
('fatigue_window_days', '7', 'Length of the trailing window whose CTR is compared with the first week'),
('fatigue_min_impressions', '500', 'Fewest impressions in the first week and in the trailing window for a comparison'),
('fatigue_ci_level', '0.90', 'Level of the days-to-fatigue interval of genome.predict_fatigue'),
('fatigue_min_ads', '3', 'Fewest launched ads of a combination for a days-to-fatigue estimate'),
('refresh_lead_days', '3',
 'Winners predicted to fatigue within this many days (or already fatigued) get a refresh planned'),
('refresh_dimensions', '["hook_type", "visual_style", "color_mode", "template_category"]',
 'Dimensions a refresh may change, in order of preference (the belief angle is kept: a refresh keeps the message and changes its surface)'),
('whitespace_max_tests', '2', 'A combination tested at most this often in the pooled data counts as whitespace'),
('whitespace_max_competitor_ads', '2', 'and competitors used it at most this often'),
('whitespace_prior_strength', '4',
 'Pseudo-observations of the independence prediction of an untested combination (how much interactions may move it)'),
('whitespace_combo_size', '2', 'Size of the combinations whitespace considers (2 or 3)'),
('whitespace_top_n', '20', 'Rows returned by genome.whitespace'),
('whitespace_min_component_rewards', '5',
 'Each element of a whitespace combination needs at least this much evidence (the brand''s rewards plus the category prior''s peer observations)'),
('whitespace_ci_level', '0.90', 'Level of the predicted-reward interval of genome.whitespace'),
-- Per-role limits (docs/security.md#per-role-limits): how long one statement of an app,
-- agent or dashboard session may run (genome._apply_tenancy() applies them to the roles at
-- every migrate), and how large an input one numeric helper accepts
-- (genome._require_helper_size).
('app_statement_timeout_seconds', '30',
 'statement_timeout of genome_app and its login roles (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('agent_statement_timeout_seconds', '30',
 'statement_timeout of genome_agent and its login roles (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('dashboard_statement_timeout_seconds', '30',
 'statement_timeout of the dashboard''s login role genome_dashboard (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('helper_max_rows', '10000',
 'Rows (arms, points, values) one call of a numeric helper accepts at most (GN031 beyond)'),
('helper_max_samples', '10000000',
 'Monte Carlo samples one call of a numeric helper draws at once at most: draws times the arms of its largest group (GN031 beyond)'),
-- How many children the scheduled jobs may plan per brand per run.
('evolution_max_per_brand', '3', 'winner_evolution evolves at most this many winners per brand per run (best reward first)'),
('refresh_max_per_brand', '2', 'fatigue_refresh plans at most this many refreshes per brand per run (soonest fatigue first)');

CREATE TABLE genome.alert_thresholds (
    metric text PRIMARY KEY,
    comparison text NOT NULL CHECK (comparison IN ('<', '>')),
    warning_threshold numeric NOT NULL,
    warning_days integer,
    critical_threshold numeric,
    critical_days integer,
    description text NOT NULL
);
COMMENT ON TABLE genome.alert_thresholds IS 'Monitoring thresholds per health metric: warning and critical levels and the days of the window each is evaluated over.';
INSERT INTO genome.alert_thresholds VALUES
('approval_rate', '<', 0.60, 7, 0.40, 3, 'Share of reviewed ads approved'),
('prediction_accuracy', '<', 0.3, 14, 0.1, 7, 'Spearman of pre_gen_score vs matured CTR'),
('generation_success_rate', '<', 0.80, 7, 0.60, 7, 'Share of generate jobs that succeeded'),
('data_freshness', '>', 3, NULL, 7, NULL, 'Days since the newest performance row'),
('winner_rate', '<', 0.10, 21, NULL, NULL, 'Share of V2 ads above the median reward of the brand''s V1 ads');
