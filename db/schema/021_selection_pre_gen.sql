-- plan_ads scores each ad it plans (the pre-generation score, docs/learning.md#pre-generation-score)
-- from the draw table it drew the ad from, not by a query over the brand's scores per plan
-- (about a quarter of a 10-ad plan's time): the table keeps, per position, the posterior
-- mean of the value there (the product's where it has one, else the brand's, 0.5 without
-- either, as pre_gen_score reads them) and per dimension its strategic weight.
-- The stored tables lack them: they are removed, and select_elements computes them from the
-- scores until the next update_scores writes them again (as after any change to the scores).

DELETE FROM genome.selection_tables;

ALTER TABLE genome.selection_tables
ADD COLUMN posterior_means double precision [] NOT NULL,
ADD COLUMN strategic_weights double precision [] NOT NULL;

COMMENT ON COLUMN genome.selection_tables.posterior_means IS
'Per position of element_values, the posterior mean alpha / (alpha + beta) of that value: the product''s row where it has one, else the brand''s, 0.5 without either (genome.pre_gen_score''s reading of the scores; docs/learning.md#pre-generation-score).';
COMMENT ON COLUMN genome.selection_tables.strategic_weights IS
'Per dimension (in dimensions'' order), its strategic weight (genome.element_dimensions), by which plan_ads weighs the values'' posterior means into each planned ad''s pre-generation score.';
