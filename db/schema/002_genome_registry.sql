-- Registries and configuration: every tunable of the model is a row, not a constant.

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
'How much a change of this dimension matters when choosing what to test next (docs/evolution.md#next-variable: belief_angle 1.0, hook_type 0.9, color_mode 0.4).';

CREATE TABLE genome.element_values (
    dimension text NOT NULL REFERENCES genome.element_dimensions (dimension),
    value text NOT NULL,
    description text,
    PRIMARY KEY (dimension, value)
);
COMMENT ON TABLE genome.element_values IS
'Allowed values per dimension; unknown values are an error (a free-text value would split one idea over several spellings).';

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

-- Reward configuration (docs/rewards.md).
CREATE TABLE genome.objective_map (
    meta_objective text PRIMARY KEY,
    reward_objective text NOT NULL
    CHECK (reward_objective IN ('CONVERSIONS', 'TRAFFIC', 'BRAND_AWARENESS'))
);
COMMENT ON TABLE genome.objective_map IS
'Maps Meta''s raw campaign objectives (OUTCOME_* and legacy) onto reward objectives (the app stores Meta''s raw value, which has changed names over time).';
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
'Reward components: maturation window (days since the ad''s first impression) and minimum impressions (docs/rewards.md#maturation), and default p25/p75 used when a brand has no baseline. All rates are RATIOS here.';
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
COMMENT ON TABLE genome.reward_weights IS 'Composite reward weights per objective (docs/rewards.md#objective-weights).';
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
'Named thresholds and parameters of the learning loop, with the documented defaults (docs/).';
INSERT INTO genome.settings (key, value, description) VALUES
('default_reward_objective', '"CONVERSIONS"', 'Objective used when a campaign has none that maps'),
('success_threshold', '0.5', 'reward >= this counts as a success (alpha += 1), else beta'),
('imported_ad_weight', '0.5', 'Weight of imported (non-generated) ads in alpha/beta'),
('revision_window_days', '28', 'Meta restates insights this many days back; rewards are revised within it'),
('category_prior_shrinkage', '0.3', 'Category prior counts are multiplied by this (the cap with empirical_bayes)'),
('prior_n_level3', '10', 'At level 3 the prior is rescaled to this many pseudo-observations'),
('brand_weight_n', '100', 'brand_weight = min(n / brand_weight_n, brand_weight_cap)'),
('brand_weight_cap', '0.8', 'Upper bound of brand_weight at level 2'),
('level2_days', '14', 'Days since first matured reward to reach level 2'),
('level3_days', '30', 'Days since first matured reward to reach level 3'),
('exploration_start', '0.30', 'exploration_boost at 0 matured ads'),
('exploration_floor', '0.05', 'exploration_boost never falls below this'),
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
('winner_min_matured_days', '7', 'Winner: at least this many days of data'),
('winner_min_impressions', '1000', 'Winner: at least this many impressions'),
('winner_min_reward', '0.65', 'Winner: matured reward at least this (or CTR / ROAS at the brand p75)'),
('max_iterations_per_winner', '5', 'Evolution limit: children per winner'),
('max_rounds_per_ancestor', '3', 'Evolution limit: rounds below one ancestor'),
('calibration_min_overrides', '20', 'Fewest overrides a calibration will learn from'),
('calibration_fn_weight', '2', 'False negatives cost this many false positives'),
('prediction_lag_days', '14', 'Prediction accuracy uses ads launched this many days before'),
('stale_weeks', '3', 'Weeks of low prediction accuracy before the genome is stale');

CREATE TABLE genome.alert_thresholds (
    metric text PRIMARY KEY,
    comparison text NOT NULL CHECK (comparison IN ('<', '>')),
    warning_threshold numeric NOT NULL,
    warning_days integer,
    critical_threshold numeric,
    critical_days integer,
    description text NOT NULL
);
COMMENT ON TABLE genome.alert_thresholds IS 'Monitoring thresholds (docs/monitoring.md#health-metrics).';
INSERT INTO genome.alert_thresholds VALUES
('approval_rate', '<', 0.60, 7, 0.40, 3, 'Share of reviewed ads approved'),
('prediction_accuracy', '<', 0.3, 14, 0.1, 7, 'Spearman of pre_gen_score vs matured CTR'),
('generation_success_rate', '<', 0.80, 7, 0.60, 7, 'Share of generate jobs that succeeded'),
('data_freshness', '>', 3, NULL, 7, NULL, 'Days since the newest performance row'),
('winner_rate', '<', 0.10, 21, NULL, NULL, 'Share of V2 ads above the brand median reward');
