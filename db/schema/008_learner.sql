-- The joint learner (docs/learning.md#joint-learner): per brand, a Bayesian logistic
-- regression of each ad's successes out of its trials on one-hot element values, whose
-- Laplace posterior is kept here and moment-matched into creative_element_scores. It is the
-- default learner: tests/test_learner.py's simulation shows it ahead of beta_bernoulli.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner', '"joint_logistic"',
    'Which learner update_scores runs: joint_logistic (per-ad evidence, all dimensions jointly) or beta_bernoulli (one bit per ad, per dimension)'
),
('learner_half_life_days', '14', 'Joint learner: an ad''s evidence weighs half as much after this many days'),
('learner_prior_sd', '1.0', 'Joint learner: prior sd of each element value''s effect on the log-odds'),
('learner_intercept_prior_sd', '2.0', 'Joint learner: prior sd of each objective''s intercept (log-odds)'),
('learner_min_dispersion', '1.0', 'Joint learner: floor of the estimated overdispersion factor');

CREATE TABLE genome.learner_objective_evidence (
    reward_objective text PRIMARY KEY,
    success_metric text NOT NULL CHECK (success_metric IN ('clicks', 'purchases')),
    trials_metric text NOT NULL CHECK (trials_metric IN ('impressions', 'clicks')),
    CHECK (success_metric <> trials_metric)
);
COMMENT ON TABLE genome.learner_objective_evidence IS
'Per reward objective, which of an ad''s totals the joint learner counts as successes out of which trials (docs/learning.md#joint-learner).';
INSERT INTO genome.learner_objective_evidence VALUES
('TRAFFIC', 'clicks', 'impressions'),
('BRAND_AWARENESS', 'clicks', 'impressions'),
('CONVERSIONS', 'purchases', 'clicks');

CREATE TABLE genome.learner_posteriors (
    brand_id uuid PRIMARY KEY REFERENCES public.brands (id),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    genome_version integer NOT NULL,
    parameters text [] NOT NULL,
    posterior_mean double precision [] NOT NULL,
    posterior_cholesky double precision [] NOT NULL,
    dispersion double precision NOT NULL CHECK (dispersion >= 1),
    n_ads integer NOT NULL,
    effective_ads double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
COMMENT ON TABLE genome.learner_posteriors IS
'The joint learner''s Laplace posterior per brand at its latest genome version (docs/learning.md#joint-learner): parameter names (objective:<objective> intercepts, then <dimension>=<value>), MAP mean and the lower Cholesky factor of the covariance (row-major, already inflated by the dispersion).';
COMMENT ON COLUMN genome.learner_posteriors.dispersion IS
'Pearson chi-square per degree of freedom over the brand''s ads, floored at learner_min_dispersion: how much wider the ads scatter than binomial noise.';
COMMENT ON COLUMN genome.learner_posteriors.effective_ads IS
'Sum of the ads'' decay and imported weights.';

-- The learner can run as soon as rewards mature: daily (docs/learning.md#joint-learner).
UPDATE genome.job_schedules
SET schedule = '30 8 * * *',
    description = 'Daily: update_scores (alpha/beta or the joint learner, priors, combos, win probabilities)'
WHERE job_name = 'creative_genome_update';
