-- Pair terms in the joint learner and blocks of dimensions drawn together
-- (docs/learning.md#interactions): a hook that works only with some angles.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_interactions', '"pairs"',
    'Joint learner: pairs (a term per pair of values of every two dimensions, one prior sd per pair of dimensions fitted to the data) or none (additive)'
),
(
    'learner_pair_prior_sd', '0.3',
    'Joint learner: the sd a pair of dimensions'' terms start from before the data estimate it (log-odds)'
),
(
    'learner_pair_min_sd', '0.1',
    'Joint learner: a pair of dimensions whose estimated sd falls below this is dropped from the model (log-odds)'
);

ALTER TABLE genome.learner_posteriors
ADD COLUMN pair_groups text [],
ADD COLUMN pair_sd double precision [],
ADD CONSTRAINT learner_posteriors_pair_check
CHECK (cardinality(pair_groups) IS NOT DISTINCT FROM cardinality(pair_sd));
COMMENT ON COLUMN genome.learner_posteriors.pair_groups IS
'The pairs of dimensions (<a>&<b>, a before b) whose terms the fit estimated (docs/learning.md#interactions); NULL: none (the value stage, or learner_interactions none). Their cells that some ad carries are parameters named <a>=<x>&<b>=<y> unless the pair was dropped.';
COMMENT ON COLUMN genome.learner_posteriors.pair_sd IS
'Per pair of dimensions in pair_groups, the prior sd of its terms fitted to the data (MacKay''s fixed point on the Laplace posterior); below learner_pair_min_sd the pair is dropped from parameters. The cells no ad carries are drawn from N(0, pair_sd^2).';

CREATE TABLE genome.learner_conditional_wins (
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    genome_version integer NOT NULL,
    element_dimension text NOT NULL,
    element_value text NOT NULL,
    given_dimensions text [] NOT NULL CHECK (cardinality(given_dimensions) >= 1),
    given_values text [] NOT NULL,
    win_probability double precision NOT NULL CHECK (win_probability BETWEEN 0 AND 1),
    PRIMARY KEY (brand_id, element_dimension, given_values, element_value),
    CHECK (cardinality(given_values) = cardinality(given_dimensions))
);
COMMENT ON TABLE genome.learner_conditional_wins IS
'The joint learner''s draws of a block of dimensions joined by pair terms (docs/learning.md#interactions): for each dimension of a block after its first (code-point order), and each combination of values of the block''s dimensions before it (given_dimensions, given_values), the probability that element_value is the best value of its dimension with them under the posterior draws of genome_version. Written by update_scores with the win probabilities; selection''s draw tables read it.';

ALTER TABLE genome.selection_tables
ADD COLUMN blocks integer [];
COMMENT ON COLUMN genome.selection_tables.blocks IS
'Per dimension, the place (in dimensions) of the first dimension of its block when it is drawn with others (docs/learning.md#interactions), else 0; NULL: every dimension on its own. A later dimension of a block has one run of sizes[i] values per combination of the values of its block''s earlier dimensions (row-major in their order), from starts[i].';

COMMENT ON TABLE genome.learner_posteriors IS
'The joint learner''s Laplace posterior per brand and funnel stage (genome.learner_objective_evidence) at its latest genome version (docs/learning.md#joint-learner): parameter names (objective:<objective> intercepts, then <dimension>=<value>, then the kept pair cells <a>=<x>&<b>=<y>, docs/learning.md#interactions), MAP mean and the lower Cholesky factor of the covariance (row-major, already inflated by the dispersion).';
