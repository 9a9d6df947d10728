-- The joint learner adjusts for how heavily each ad was served (docs/learning.md#frequency):
-- an ad's click-through falls as the same people see it again, and Meta serves the ads it
-- expects to click more, so without the adjustment a good creative is blamed for the
-- frequency its own success brought.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_frequency', '"adjust"',
    'Joint learner: "adjust" (each ad''s clicks-per-impression evidence carries a known log-odds offset, how far its delivery fatigued it: the brand''s slope of log CTR on the audience''s lifetime frequency, fitted within ads from their daily rows, times each day''s excess frequency, averaged over its impressions; element values are then compared as fresh ads) or "ignore" (no adjustment)'
),
(
    'learner_frequency_prior_sd', '1.0',
    'Joint learner: prior sd of the brand''s frequency slope (the fall of log CTR per extra view per person; centred on 0)'
);

ALTER TABLE genome.learner_posteriors
ADD COLUMN frequency_slope double precision,
ADD COLUMN frequency_slope_sd double precision;

COMMENT ON COLUMN genome.learner_posteriors.frequency_slope IS
'The fall of the ads'' log CTR per unit of lifetime frequency above 1 (impressions per person of the estimated audience), fitted within ads from their daily delivery (conditional Poisson, prior learner_frequency_prior_sd; docs/learning.md#frequency); each ad''s evidence carried the offset it implies. NULL: no adjustment (learner_frequency "ignore", a stage other than clicks per impression, or no ad with daily rows and an audience estimate).';
COMMENT ON COLUMN genome.learner_posteriors.frequency_slope_sd IS
'Posterior sd of frequency_slope (Laplace, scaled by the daily counts'' Pearson dispersion).';
