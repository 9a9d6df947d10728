-- The learning state: matured rewards (with revision history), Beta scores per element
-- value, combos, peer priors and per-brand genome state.

CREATE TABLE genome.creative_element_rewards (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    product_id uuid REFERENCES public.products (id),
    generated_ad_id uuid NOT NULL UNIQUE REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    element_tags jsonb NOT NULL,
    reward_score double precision NOT NULL CHECK (reward_score >= 0 AND reward_score <= 1),
    reward_components jsonb NOT NULL,
    campaign_objective text,
    reward_objective text NOT NULL,
    matured_at timestamptz NOT NULL,
    revised_at timestamptz NOT NULL,
    revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
    first_date date NOT NULL,
    last_date date NOT NULL,
    total_impressions bigint NOT NULL CHECK (total_impressions >= 0),
    total_clicks bigint NOT NULL CHECK (total_clicks >= 0 AND total_clicks <= total_impressions),
    total_purchases bigint NOT NULL CHECK (total_purchases >= 0),
    total_spend double precision NOT NULL CHECK (total_spend >= 0),
    total_purchase_value double precision NOT NULL CHECK (total_purchase_value >= 0),
    raw_ctr double precision,
    raw_roas double precision,
    bandit_selected boolean NOT NULL DEFAULT false,
    is_imported boolean NOT NULL DEFAULT false,
    attribution_path text NOT NULL CHECK (attribution_path IN ('mapping', 'ad_name'))
);
CREATE INDEX creative_element_rewards_brand_idx
ON genome.creative_element_rewards (brand_id, matured_at);
COMMENT ON TABLE genome.creative_element_rewards IS
'One matured composite reward per ad, revised as components mature and Meta restates; earlier revisions in creative_element_reward_history.';
COMMENT ON COLUMN genome.creative_element_rewards.reward_components IS
'Per component: raw value, normalized value, configured and effective weight, baseline source; plus which components were left out (not matured / missing) and how their weight was redistributed.';
COMMENT ON COLUMN genome.creative_element_rewards.attribution_path IS
'mapping (meta_ad_mapping) or ad_name (fallback parsing of the Meta ad name).';

CREATE TABLE genome.creative_element_reward_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    revision integer NOT NULL,
    reward_score double precision NOT NULL,
    reward_components jsonb NOT NULL,
    total_impressions bigint NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz NOT NULL,
    UNIQUE (generated_ad_id, revision)
);
COMMENT ON TABLE genome.creative_element_reward_history IS
'Superseded revisions of a reward (what the genome believed, and when).';

CREATE TABLE genome.creative_element_scores (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    product_id uuid REFERENCES public.products (id),
    element_dimension text NOT NULL,
    element_value text NOT NULL,
    alpha double precision NOT NULL DEFAULT 1.0 CHECK (alpha >= 1),
    beta double precision NOT NULL DEFAULT 1.0 CHECK (beta >= 1),
    win_rate double precision GENERATED ALWAYS AS (alpha / (alpha + beta)) STORED,
    total_observations integer GENERATED ALWAYS AS (cast(alpha + beta - 2 AS integer)) STORED,
    confidence_width double precision,
    prior_alpha double precision NOT NULL DEFAULT 1.0 CHECK (prior_alpha > 0),
    prior_beta double precision NOT NULL DEFAULT 1.0 CHECK (prior_beta > 0),
    posterior_alpha double precision NOT NULL DEFAULT 1.0 CHECK (posterior_alpha > 0),
    posterior_beta double precision NOT NULL DEFAULT 1.0 CHECK (posterior_beta > 0),
    mean_reward double precision,
    n_rewards integer NOT NULL DEFAULT 0,
    win_probability double precision CHECK (win_probability BETWEEN 0 AND 1),
    cold_start_level integer NOT NULL DEFAULT 0 CHECK (cold_start_level BETWEEN 0 AND 3),
    genome_version integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (element_dimension, element_value)
    REFERENCES genome.element_values (dimension, value),
    -- Brand-level rows (product_id NULL) are unique too.
    UNIQUE NULLS NOT DISTINCT (brand_id, product_id, element_dimension, element_value)
);
CREATE INDEX creative_element_scores_brand_dim_idx
ON genome.creative_element_scores (brand_id, element_dimension);
COMMENT ON TABLE genome.creative_element_scores IS
'Thompson sampling state per (brand, product or brand level, dimension, value). alpha/beta are the brand''s own evidence; posterior_* blend it with the prior by cold-start level.';
COMMENT ON COLUMN genome.creative_element_scores.alpha IS '1 + weighted successes (reward >= success_threshold).';
COMMENT ON COLUMN genome.creative_element_scores.beta IS '1 + weighted failures.';
COMMENT ON COLUMN genome.creative_element_scores.posterior_alpha IS
'alpha of the Beta the bandit samples: prior and brand evidence blended by cold-start level.';
COMMENT ON COLUMN genome.creative_element_scores.win_probability IS
'Probability this value wins a Thompson draw within its dimension, from >= 10,000 draws at update time.';
COMMENT ON COLUMN genome.creative_element_scores.confidence_width IS
'Width of the 95% equal-tailed interval of the posterior Beta.';

CREATE TABLE genome.selection_tables (
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    product_id uuid REFERENCES public.products (id),
    dimensions text [] NOT NULL,
    starts integer [] NOT NULL,
    sizes integer [] NOT NULL,
    element_values text [] NOT NULL,
    p_win double precision [] NOT NULL,
    cumulative double precision [] NOT NULL,
    UNIQUE NULLS NOT DISTINCT (brand_id, product_id)
);
COMMENT ON TABLE genome.selection_tables IS
'The draw table select_elements reads (docs/learning.md#selection), one row per brand (product_id NULL) and per product with scores of its own: the registry''s element dimensions in order, and for dimension i its sizes[i] values from position starts[i] of element_values (in value order) with the probability each wins the Thompson draw (p_win: win_probability normalised, 1/k without scores) and the running sum within the dimension (cumulative). Written by update_scores after the win probabilities; any change to creative_element_scores, element_values or element_dimensions removes the rows it could make stale, and select_elements then computes the same table from the scores.';

CREATE TABLE genome.element_combo_scores (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    product_id uuid REFERENCES public.products (id),
    combo_size integer NOT NULL CHECK (combo_size IN (2, 3)),
    dimensions text [] NOT NULL,
    element_values text [] NOT NULL,
    combo_key text NOT NULL,
    alpha double precision NOT NULL CHECK (alpha >= 1),
    beta double precision NOT NULL CHECK (beta >= 1),
    n_rewards integer NOT NULL,
    mean_reward double precision NOT NULL,
    genome_version integer NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK (cardinality(dimensions) = combo_size AND cardinality(element_values) = combo_size),
    UNIQUE NULLS NOT DISTINCT (brand_id, product_id, combo_key)
)
-- Every update_scores rewrites each row of the brands it recomputes, no indexed column
-- changed: room on the page for the new version makes it a HOT update, no index entries
-- (a brand's 2,121 combos: 40 -> 16 ms; 20 brands' 43K: 650 -> 350 ms).
WITH (fillfactor = 50);
COMMENT ON TABLE genome.element_combo_scores IS
'Beta scores of combinations of 2 and 3 element values.';

CREATE TABLE genome.brand_priors (
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    element_dimension text NOT NULL,
    element_value text NOT NULL,
    prior_alpha double precision NOT NULL CHECK (prior_alpha > 0),
    prior_beta double precision NOT NULL CHECK (prior_beta > 0),
    peer_brands integer NOT NULL,
    peer_observations double precision NOT NULL,
    genome_version integer NOT NULL,
    shrinkage double precision,
    between_brand_variance double precision,
    PRIMARY KEY (brand_id, element_dimension, element_value)
);
COMMENT ON TABLE genome.brand_priors IS
'Category prior for a brand: aggregate alpha/beta of OTHER opted-in brands of its category, shrunk. Holds only aggregates, never a peer''s rows.';
COMMENT ON COLUMN genome.brand_priors.shrinkage IS
'Share of the peers'' summed evidence kept in the prior (fixed category_prior_shrinkage, or the empirical-Bayes estimate clamped to [category_prior_shrinkage_floor, category_prior_shrinkage]).';
COMMENT ON COLUMN genome.brand_priors.between_brand_variance IS
'Empirical Bayes: the method-of-moments variance of the success rate between the peer brands of the category for this dimension (NULL when fewer than two peers inform it).';

CREATE TABLE genome.genome_state (
    brand_id uuid PRIMARY KEY REFERENCES public.brands (id),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    genome_version integer NOT NULL,
    cold_start_level integer NOT NULL CHECK (cold_start_level BETWEEN 0 AND 3),
    matured_ads integer NOT NULL DEFAULT 0,
    planned_ads integer NOT NULL DEFAULT 0,
    first_reward_at timestamptz,
    brand_weight double precision NOT NULL DEFAULT 0,
    is_stale boolean NOT NULL DEFAULT false,
    stale_since timestamptz,
    updated_at timestamptz NOT NULL
);
COMMENT ON TABLE genome.genome_state IS
'Per brand: genome version, cold-start level (0 priors / 1 proxy metrics / 2 blended / 3 brand only), matured-ad count and stale flag.';

-- Which brands the daily update must recompute (docs/learning.md#incremental-update): filled by
-- triggers on everything update_scores reads, and by update_scores itself with the time a
-- brand's evidence changes without a write (a reward maturing, a cold-start level reached).
CREATE TABLE genome.learning_dirty_brands (
    brand_id uuid PRIMARY KEY REFERENCES public.brands (id) ON DELETE CASCADE,
    due_at timestamptz NOT NULL
);
COMMENT ON TABLE genome.learning_dirty_brands IS
'Brands update_scores recomputes when called at p_now >= due_at (docs/learning.md#incremental-update): a write to an input of the brand''s scores sets due_at to -infinity (or a reward''s matured_at), and update_scores sets it to the next time the brand''s evidence changes by itself (the next reward maturing, the next cold-start level, learning_refresh_days later at the latest). One row per brand, the earliest due time.';

CREATE SEQUENCE genome.genome_version_seq;
COMMENT ON SEQUENCE genome.genome_version_seq IS 'Genome version: increases on every update_scores.';

-- The joint learner (docs/learning.md#joint-learner): per brand, a Bayesian logistic
-- regression of each ad's successes out of its trials on one-hot element values, whose
-- Laplace posterior is kept here and moment-matched into creative_element_scores.
CREATE TABLE genome.learner_objective_evidence (
    reward_objective text NOT NULL,
    stage smallint NOT NULL CHECK (stage >= 1),
    success_metric text NOT NULL CHECK (success_metric IN ('clicks', 'purchases')),
    trials_metric text NOT NULL CHECK (trials_metric IN ('impressions', 'clicks')),
    PRIMARY KEY (reward_objective, stage),
    CHECK (success_metric <> trials_metric)
);
COMMENT ON TABLE genome.learner_objective_evidence IS
'Per reward objective, the stages of its funnel the joint learner fits, each an ad''s successes out of its trials (docs/learning.md#joint-learner); the rate the learner scores a value by is the product of its stages'' rates (purchases per impression for CONVERSIONS).';
INSERT INTO genome.learner_objective_evidence VALUES
('TRAFFIC', 1, 'clicks', 'impressions'),
('BRAND_AWARENESS', 1, 'clicks', 'impressions'),
('CONVERSIONS', 1, 'clicks', 'impressions'),
('CONVERSIONS', 2, 'purchases', 'clicks');

CREATE TABLE genome.learner_posteriors (
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    stage smallint NOT NULL CHECK (stage >= 1),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    genome_version integer NOT NULL,
    parameters text [] NOT NULL,
    posterior_mean double precision [] NOT NULL,
    posterior_cholesky double precision [] NOT NULL,
    average_design double precision [] NOT NULL,
    dispersion double precision NOT NULL CHECK (dispersion >= 1),
    n_ads integer NOT NULL,
    effective_ads double precision NOT NULL,
    half_life_days double precision CHECK (half_life_days > 0),
    half_life_chosen_at timestamptz,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (brand_id, stage)
);
COMMENT ON TABLE genome.learner_posteriors IS
'The joint learner''s Laplace posterior per brand and funnel stage (genome.learner_objective_evidence) at its latest genome version (docs/learning.md#joint-learner): parameter names (objective:<objective> intercepts, then <dimension>=<value>), MAP mean and the lower Cholesky factor of the covariance (row-major, already inflated by the dispersion).';
COMMENT ON COLUMN genome.learner_posteriors.dispersion IS
'How much the ads'' creative-to-creative scatter shrank their binomial information (the information-weighted mean of the per-ad factors 1 + (n - 1) rho of docs/learning.md#overdispersion; Pearson chi-square per degree of freedom when all ads have equal trials), floored at learner_min_dispersion.';
COMMENT ON COLUMN genome.learner_posteriors.average_design IS
'Per parameter, the weighted share of the stage''s ads that carry it: the brand''s average ad, against which each value''s win probability is drawn (docs/learning.md#joint-learner).';
COMMENT ON COLUMN genome.learner_posteriors.effective_ads IS
'Sum of the ads'' decay and imported weights.';
COMMENT ON COLUMN genome.learner_posteriors.half_life_days IS
'The half-life (days) the fit weighted the ads'' evidence with, chosen among learner_half_life_candidates by how well each predicted the newest ads (docs/learning.md#half-life); NULL: no decay.';
COMMENT ON COLUMN genome.learner_posteriors.half_life_chosen_at IS
'When the data last chose half_life_days (the p_now of that update); the fits of the next learner_half_life_refresh_days keep it without scoring the candidates again (docs/learning.md#half-life). NULL: not chosen by the data (too few recent ads: learner_half_life_days), so the next fit tries again.';
