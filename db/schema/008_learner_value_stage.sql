-- The joint learner's value stage (docs/learning.md#value-stage): a CONVERSIONS ad's order
-- value per purchase, the part of its ROAS that neither clicks nor purchases see.
ALTER TABLE genome.learner_objective_evidence
DROP CONSTRAINT learner_objective_evidence_success_metric_check,
DROP CONSTRAINT learner_objective_evidence_trials_metric_check,
ADD CONSTRAINT learner_objective_evidence_success_metric_check
CHECK (success_metric IN ('clicks', 'purchases', 'purchase_value')),
ADD CONSTRAINT learner_objective_evidence_trials_metric_check
CHECK (trials_metric IN ('impressions', 'clicks', 'purchases')),
-- A value per success is a value stage of successes that an earlier stage counts.
ADD CONSTRAINT learner_objective_evidence_value_check
CHECK ((success_metric = 'purchase_value') = (trials_metric = 'purchases'));

INSERT INTO genome.learner_objective_evidence VALUES
('CONVERSIONS', 3, 'purchase_value', 'purchases');

COMMENT ON TABLE genome.learner_objective_evidence IS
'Per reward objective, the stages of its funnel the joint learner fits (docs/learning.md#joint-learner): a rate stage fits an ad''s successes out of its trials (clicks out of impressions, purchases out of clicks), the value stage (success_metric purchase_value, trials purchases) its order value per purchase (docs/learning.md#value-stage). A value is scored by the product of its rate stages'' rates (purchases per impression for CONVERSIONS) and drawn for selection by that product times its value per purchase (revenue per impression).';

-- Creatives move order value far less than click odds: a 0.3 prior sd on the log of the
-- value per purchase lets an unproven value move it by about a third, not by the factor
-- of 2.7 a sd of 1 would, so a stage with few purchases cannot drive the Thompson draws.
INSERT INTO genome.settings (key, value, description) VALUES (
    'learner_value_prior_sd', '0.3',
    'Joint learner: prior sd of each element value''s effect on the log of the order value per purchase (the value stage)'
);

ALTER TABLE genome.learner_posteriors
ADD COLUMN value_stage boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN genome.learner_posteriors.value_stage IS
'True for the value stage (docs/learning.md#value-stage): the posterior is of the log order value per purchase, not of log-odds; its rate multiplies the win probabilities'' draws, not posterior_alpha/posterior_beta.';
