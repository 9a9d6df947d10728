-- Autonomous intelligence (docs/evolution.md#fatigue): creative fatigue per launched ad, refresh
-- planning, empirical-Bayes cross-brand priors, competitive whitespace, and the settings
-- these functions read.

CREATE TABLE genome.ad_fatigue (
    generated_ad_id uuid PRIMARY KEY REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    assessed_at timestamptz NOT NULL,
    first_date date NOT NULL,
    last_date date NOT NULL,
    age_days integer NOT NULL CHECK (age_days >= 1),
    baseline_impressions bigint NOT NULL CHECK (baseline_impressions >= 0),
    baseline_clicks bigint NOT NULL CHECK (baseline_clicks >= 0),
    baseline_ctr double precision,
    current_from date,
    current_impressions bigint NOT NULL DEFAULT 0 CHECK (current_impressions >= 0),
    current_clicks bigint NOT NULL DEFAULT 0 CHECK (current_clicks >= 0),
    current_ctr double precision,
    ctr_decay double precision,
    ctr_decay_ci_lower double precision,
    ctr_decay_ci_upper double precision,
    lifetime_impressions bigint NOT NULL CHECK (lifetime_impressions >= 0),
    est_audience double precision,
    est_frequency double precision,
    status text NOT NULL CHECK (status IN ('warming_up', 'fresh', 'decaying', 'fatigued')),
    fatigued_on date,
    days_to_fatigue integer CHECK (days_to_fatigue >= 1),
    CHECK ((status = 'fatigued') = (fatigued_on IS NOT NULL))
);
CREATE INDEX ad_fatigue_brand_idx ON genome.ad_fatigue (brand_id, status);
COMMENT ON TABLE genome.ad_fatigue IS
'Creative fatigue per launched ad (genome.detect_fatigue): CTR of the latest window against the ad''s own first matured week, with its estimated lifetime frequency. One row per ad, replaced on every run.';
COMMENT ON COLUMN genome.ad_fatigue.ctr_decay IS
'1 - current_ctr / baseline_ctr; ctr_decay_ci_* is its 95% interval (delta method on the log CTR ratio).';
COMMENT ON COLUMN genome.ad_fatigue.est_frequency IS
'Estimated lifetime frequency (impressions per person reached): lifetime impressions over the reach a random-exposure model gives for the audience size est_audience, which is estimated from the daily impressions / reach of the ad.';
COMMENT ON COLUMN genome.ad_fatigue.status IS
'warming_up: its first matured week is not complete; fresh; decaying: CTR fell by the threshold but frequency has not passed its threshold; fatigued: both (first on fatigued_on).';
COMMENT ON COLUMN genome.ad_fatigue.days_to_fatigue IS
'Days from first delivery to fatigued_on (the event of the survival fit in genome.predict_fatigue).';

CREATE TABLE genome.competitor_ad_tags (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    category text NOT NULL,
    competitor text,
    element_tags jsonb NOT NULL,
    observed_at timestamptz NOT NULL,
    source text
);
CREATE INDEX competitor_ad_tags_org_category_idx
ON genome.competitor_ad_tags (organization_id, category);
COMMENT ON TABLE genome.competitor_ad_tags IS
'Element tags of competitors'' ads an organization has recorded (e.g. from an ad library), per category. genome.whitespace counts them as occupied space; they carry no rewards.';

ALTER TABLE genome.brand_priors ADD COLUMN shrinkage double precision;
ALTER TABLE genome.brand_priors ADD COLUMN between_brand_variance double precision;
COMMENT ON COLUMN genome.brand_priors.shrinkage IS
'Share of the peers'' summed evidence kept in the prior (fixed category_prior_shrinkage, or the empirical-Bayes estimate clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]).';
COMMENT ON COLUMN genome.brand_priors.between_brand_variance IS
'Empirical Bayes: the method-of-moments variance of the success rate between the peer brands of the category for this dimension (NULL when fewer than two peers inform it).';

INSERT INTO genome.settings (key, value, description) VALUES
('category_prior_method', '"empirical_bayes"',
 'fixed: peers'' evidence x category_prior_shrinkage; empirical_bayes: shrinkage from the between-brand variance, clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]'),
('category_prior_shrinkage_floor', '0.02',
 'Empirical Bayes never keeps less than this share of the peers'' evidence'),
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
('whitespace_top_n', '20', 'Rows returned by genome.whitespace');

INSERT INTO genome.job_schedules VALUES
('fatigue_refresh', '{detect_fatigue,schedule_refresh}',
 'Daily after genome_collect: detect_fatigue (CTR decay with frequency per launched ad) and schedule_refresh (refresh evolutions of fatigued or soon-fatigued winners)');
