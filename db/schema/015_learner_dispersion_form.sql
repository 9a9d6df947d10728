-- The joint learner's overdispersion takes one of two forms (docs/learning.md#overdispersion):
-- Williams' extra-binomial share of the rate, or a logit-normal spread of each ad's log-odds
-- (the lognormal creative-to-creative scatter of CTR), or per fit whichever the data support
-- better. Williams' stays the default: the other two won on the learning benchmark's spread
-- families and lost on its drift family.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_dispersion_form', '"williams"',
    'Joint learner: the form of the ads'' creative-to-creative scatter at a rate stage: "williams" (the rate scatters by a share rho of p (1 - p): variance n p (1 - p) (1 + (n - 1) rho)), "logit_normal" (each ad''s log-odds scatter by sigma2: variance n p (1 - p) (1 + n p (1 - p) sigma2)) or "auto" (each fit takes the form with the higher extended quasi-likelihood); docs/learning.md#overdispersion has what each costs and earns'
);

ALTER TABLE genome.learner_posteriors
    ADD COLUMN dispersion_form text CHECK (dispersion_form IN ('williams', 'logit_normal'));

COMMENT ON COLUMN genome.learner_posteriors.dispersion_form IS
'The form of the ads'' overdispersion the fit used (docs/learning.md#overdispersion): williams or logit_normal; NULL when the ads scattered no more than binomial noise, and for the value stage.';

COMMENT ON COLUMN genome.learner_posteriors.dispersion IS
'How much the ads'' creative-to-creative scatter shrank their binomial information (the information-weighted mean of the per-ad factors of docs/learning.md#overdispersion, in the form of dispersion_form; Pearson chi-square per degree of freedom when all ads have equal trials and the form is williams), floored at learner_min_dispersion.';
