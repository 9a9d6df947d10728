-- The joint learner's structure is kept between its choices (docs/learning.md#kept-structure):
-- which pair terms and drift terms a brand's model carries, and their fitted prior sds, are
-- chosen by MacKay's fixed point over repeated refits of the whole design (most of a large
-- brand's fit), and a day's new ads move them little. The daily fits of the next
-- learner_structure_refresh_days reuse them and fit the parameters once, until the brand's
-- ads have grown by learner_structure_refresh_growth since the choice (a young brand's
-- structure is chosen again as its evidence builds up).

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_structure_refresh_days', '7',
    'Joint learner: days the pair and drift terms'' prior sds the data chose are kept (the daily fits reuse them and fit the parameters once) before they are fitted again (0: fitted at every fit)'
),
(
    'learner_structure_refresh_growth', '0.02',
    'Joint learner: the share by which a fit''s ads may have grown since its pair and drift sds were chosen and still keep them (0.02: chosen again once it has more than 2% more ads)'
);

ALTER TABLE genome.learner_posteriors
ADD COLUMN structure_chosen_at timestamptz,
ADD COLUMN structure_chosen_ads integer;

COMMENT ON COLUMN genome.learner_posteriors.structure_chosen_at IS
'When the data last chose pair_sd and drift_sd (the p_now of that update; docs/learning.md#kept-structure); the fits of the next learner_structure_refresh_days keep them, and so the terms they keep, without refitting the sds. NULL: nothing to choose (no pair or drift terms).';
COMMENT ON COLUMN genome.learner_posteriors.structure_chosen_ads IS
'The fit''s ads (n_ads) when the data last chose pair_sd and drift_sd: the structure is kept while n_ads stays within learner_structure_refresh_growth of it (docs/learning.md#kept-structure). NULL with structure_chosen_at.';
