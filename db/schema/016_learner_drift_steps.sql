-- A value's drift walks back in time in steps (docs/learning.md#drift): at the ages
-- learner_drift_days, twice that, four times that, ..., so a change a month ago is one
-- step's terms instead of being averaged into every ad older than a week.

UPDATE genome.settings
SET description = 'Joint learner: the age (days, from the middle of an ad''s delivery) of the first step of the drift terms, the next steps at twice, four times, ... that age: an ad carries, per element value and step its age has passed, a term for how far the value''s effect moved across that step (one prior sd per dimension fitted to the data); null: no drift terms'
WHERE key = 'learner_drift_days';

COMMENT ON COLUMN genome.learner_posteriors.drift_sd IS
'Per dimension in drift_dimensions, the fitted sd of how far its values'' effects moved across each step back in time (the steps at learner_drift_days, twice and four times that age, ...; MacKay''s fixed point on the Laplace posterior; NULL where no older ad carries the dimension). Below learner_pair_min_sd the dimension''s drift terms are dropped; above it the stored posterior is that of the newest ads, the drift terms integrated out. A large value says the brand''s winners in that dimension have moved.';
