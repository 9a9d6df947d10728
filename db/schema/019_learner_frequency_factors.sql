-- Each ad's frequency offset, kept where the attribution reads it (docs/learning.md#frequency,
-- docs/attribution.md#fatigue): without it genome.attribute compares the ads' CTR as
-- delivered, and Meta's heavier delivery of the ads that click more fatigues them most, so
-- the best value of a dimension could rank among the worst. One row per brand and stage
-- (arrays), not one per ad: the learner rewrites a brand's ads every update.

ALTER TABLE genome.learner_posteriors
ADD COLUMN frequency_ad_ids uuid [],
ADD COLUMN frequency_log_factors double precision [],
ADD CONSTRAINT learner_posteriors_frequency_factors_check
CHECK (NOT cardinality(frequency_ad_ids) IS DISTINCT FROM cardinality(frequency_log_factors));

COMMENT ON COLUMN genome.learner_posteriors.frequency_ad_ids IS
'The ads (generated_ads.id) whose evidence carried a frequency offset at this fit, in the order of frequency_log_factors; ads not listed carried none. NULL: no adjustment (as frequency_slope).';
COMMENT ON COLUMN genome.learner_posteriors.frequency_log_factors IS
'Per ad of frequency_ad_ids, its log-odds offset: how far its delivery fatigued it (the slope times each day''s excess frequency, averaged over its impressions; docs/learning.md#frequency). impressions x exp(factor) is the fresh ad''s equivalent exposure genome.attribute compares (docs/attribution.md#fatigue).';
