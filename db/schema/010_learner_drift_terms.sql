-- Drift terms in the joint learner (docs/learning.md#drift): a value whose effect moved is
-- judged on its newest ads, and a value not tried lately is as uncertain as the moves seen.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_drift_days', '7',
    'Joint learner: ads older than this many days (from the middle of their delivery) carry, per element value, a term for how far its effect was then from now (one prior sd per dimension fitted to the data); null: no drift terms'
),
(
    'learner_drift_prior_sd', '0.3',
    'Joint learner: the sd a dimension''s drift terms start from before the data estimate it (log-odds); a dimension whose estimate falls below learner_pair_min_sd has its drift terms dropped'
);

ALTER TABLE genome.learner_posteriors
ADD COLUMN drift_dimensions text [],
ADD COLUMN drift_sd double precision [],
ADD CONSTRAINT learner_posteriors_drift_check
CHECK (cardinality(drift_dimensions) IS NOT DISTINCT FROM cardinality(drift_sd));
COMMENT ON COLUMN genome.learner_posteriors.drift_dimensions IS
'The dimensions whose drift the fit estimated (docs/learning.md#drift), in the order of drift_sd; NULL: none (the value stage, learner_drift_days null, or no ad old enough).';
COMMENT ON COLUMN genome.learner_posteriors.drift_sd IS
'Per dimension in drift_dimensions, the fitted sd of how far its values'' effects on ads older than learner_drift_days were from their effects now (MacKay''s fixed point on the Laplace posterior; NULL where no older ad carries the dimension). Below learner_pair_min_sd the dimension''s drift terms are dropped; above it the stored posterior is that of the newest ads, the drift terms integrated out. A large value says the brand''s winners in that dimension have moved.';
