-- SCORE: Beta(alpha, beta) per element value, category priors, cold-start levels, causal
-- evidence from experiments, combos, and each value's probability of winning a Thompson draw
-- (docs/learning.md). update_scores runs the steps in order; each step is a function of its own
-- named _update_scores_<step>, which the security set-up treats like the job itself (not the
-- app's to call).

CREATE OR REPLACE FUNCTION genome.update_scores(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE sql
SET search_path = genome, public
AS $$
    SELECT genome.update_scores(p_now, false);
$$;
COMMENT ON FUNCTION genome.update_scores(timestamptz) IS
'SCORE (creative_genome_update, daily): genome.update_scores(p_now, false), the incremental update (docs/learning.md#incremental-update): only the brands whose inputs changed are recomputed. GN004 bad p_now, GN090 learning_refresh_days not positive.';

-- p_full without a default: update_scores(p_now) is the one-argument function above, the
-- form every scheduled job is called in.
CREATE OR REPLACE FUNCTION genome.update_scores(p_now timestamptz, p_full boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
-- For every step it runs: their estimates (tags expanded per reward, combos joined three
-- ways) pass jit_above_cost while each statement runs in milliseconds to a second; JIT
-- compilation cost ~2 s of a 20-brand full rebuild (8.1 s -> 6.2 s without) and ~45 ms of
-- a one-brand daily update's 2,121 combos.
SET jit = off
AS $$
DECLARE
    v_version integer;
    v_rows integer;
    v_brands uuid [];
    v_targets uuid [];
    v_level2 double precision := genome._setting_num('level2_days');
    v_level3 double precision := genome._setting_num('level3_days');
    v_refresh double precision := genome._setting_num('learning_refresh_days');
    -- In days, with one to spare for a date against a timestamp (the due time below).
    v_longest_maturation integer := (SELECT max(m.maturation_days) + 1 FROM genome.reward_metrics AS m);
BEGIN
    PERFORM genome._require_now(p_now);
    IF v_refresh IS NULL OR v_refresh <= 0 THEN
        RAISE EXCEPTION 'setting learning_refresh_days must be positive, got %', v_refresh
            USING ERRCODE = 'GN090';
    END IF;
    v_version := nextval('genome.genome_version_seq')::integer;

    -- docs/learning.md#incremental-update: only the brands whose inputs changed (NULL: all).
    -- A brand is due when no update has written its genome state yet (plan_ads and validate
    -- may create the row at version 0), when an update ran at a later p_now (the evidence at
    -- p_now is less than what its scores hold), or when its marker in
    -- genome.learning_dirty_brands is due.
    IF NOT p_full THEN
        SELECT coalesce(array_agg(b.id ORDER BY b.id), '{}') INTO v_brands
        FROM public.brands AS b
        LEFT JOIN genome.genome_state AS gs ON gs.brand_id = b.id
        LEFT JOIN genome.learning_dirty_brands AS d ON d.brand_id = b.id
        WHERE gs.brand_id IS NULL OR gs.genome_version = 0 OR gs.updated_at > p_now
           OR d.due_at <= p_now;
        -- The category priors of a due brand's opted-in peers read its evidence: they are
        -- recomputed too, and a peer whose published prior changed is due as well.
        SELECT coalesce(array_agg(DISTINCT x.id), '{}') INTO v_targets
        FROM (
            SELECT unnest(v_brands) AS id
            UNION
            SELECT peer.id
            FROM public.brands AS b
            INNER JOIN public.brands AS peer
                ON peer.category = b.category AND peer.cross_brand_sharing
            WHERE b.id = ANY (v_brands) AND b.cross_brand_sharing
        ) AS x;
        CREATE TEMP TABLE _priors_before ON COMMIT DROP AS
        SELECT bp.brand_id, bp.element_dimension, bp.element_value, bp.prior_alpha, bp.prior_beta
        FROM genome.brand_priors AS bp
        WHERE bp.brand_id = ANY (v_targets) AND NOT bp.brand_id = ANY (v_brands);
    END IF;

    PERFORM genome._update_scores_brand_priors(p_now, v_version, v_targets);
    IF NOT p_full THEN
        SELECT coalesce(array_agg(DISTINCT x.id), '{}') INTO v_brands
        FROM (
            SELECT unnest(v_brands) AS id
            UNION
            SELECT coalesce(o.brand_id, n.brand_id)
            FROM _priors_before AS o
            FULL JOIN (
                SELECT bp.brand_id, bp.element_dimension, bp.element_value, bp.prior_alpha, bp.prior_beta
                FROM genome.brand_priors AS bp
                WHERE bp.brand_id = ANY (v_targets) AND NOT bp.brand_id = ANY (v_brands)
            ) AS n
                ON n.brand_id = o.brand_id AND n.element_dimension = o.element_dimension
                AND n.element_value = o.element_value
            WHERE (o.prior_alpha, o.prior_beta) IS DISTINCT FROM (n.prior_alpha, n.prior_beta)
        ) AS x;
        DROP TABLE _priors_before;
    END IF;

    IF v_brands = '{}' THEN
        -- Nothing changed: no step has anything to do.
        RETURN 0;
    END IF;
    PERFORM genome._update_scores_cold_start_levels(p_now, v_version, v_brands);
    v_rows := genome._update_scores_brand_scores(p_now, v_version, v_brands);
    PERFORM genome._update_scores_joint_learner(p_now, v_version, v_brands);
    PERFORM genome._update_scores_causal_effects(p_now, v_version, v_brands);
    v_rows := v_rows + genome._update_scores_product_scores(p_now, v_version, v_brands);
    PERFORM genome._update_scores_win_probabilities(v_version);
    PERFORM genome._update_scores_joint_win_probabilities(v_version);
    PERFORM genome._update_scores_selection_tables(v_brands);
    PERFORM genome._update_scores_combos(p_now, v_version, v_brands);

    -- The brands done: their markers are spent; each gets the next time its evidence changes
    -- with no write (a reward maturing, an experiment's effect recorded, a cold-start level
    -- reached), learning_refresh_days from now at the latest. A pending earlier marker stays.
    DELETE FROM genome.learning_dirty_brands AS d
    WHERE d.due_at <= p_now AND (v_brands IS NULL OR d.brand_id = ANY (v_brands));
    INSERT INTO genome.learning_dirty_brands AS d (brand_id, due_at)
    SELECT
        gs.brand_id,
        least(
            (
                SELECT min(cer.matured_at) FROM genome.creative_element_rewards AS cer
                WHERE cer.brand_id = gs.brand_id AND cer.matured_at > p_now
            ),
            (
                SELECT min(ce.created_at) FROM genome.causal_effects AS ce
                WHERE ce.brand_id = gs.brand_id AND ce.created_at > p_now
            ),
            -- A joint-learner stage's metric maturing after its reward row was written (the
            -- purchases of a CONVERSIONS ad, docs/learning.md#joint-learner). A reward row is
            -- written after the ad's first day, so only rows written within the longest
            -- maturation window can still have a stage to mature (the index's range).
            (
                SELECT min((cer.first_date + rm.maturation_days)::timestamptz)
                FROM genome.creative_element_rewards AS cer
                INNER JOIN genome.learner_objective_evidence AS loe
                    ON loe.reward_objective = cer.reward_objective
                INNER JOIN genome.reward_metrics AS rm
                    ON rm.metric = genome._learner_stage_metric(loe.success_metric)
                WHERE cer.brand_id = gs.brand_id
                  AND rm.maturation_days > (SELECT min(m.maturation_days) FROM genome.reward_metrics AS m)
                  AND cer.matured_at > p_now - make_interval(days => v_longest_maturation)
                  AND (cer.first_date + rm.maturation_days)::timestamptz > p_now
            ),
            nullif(greatest(gs.first_reward_at + make_interval(secs => v_level2 * 86400), p_now), p_now),
            nullif(greatest(gs.first_reward_at + make_interval(secs => v_level3 * 86400), p_now), p_now),
            p_now + make_interval(secs => v_refresh * 86400)
        )
    FROM genome.genome_state AS gs
    WHERE gs.genome_version = v_version
    ON CONFLICT (brand_id) DO UPDATE
    SET due_at = least(d.due_at, excluded.due_at);

    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.update_scores(timestamptz, boolean) IS
'SCORE (creative_genome_update, daily): alpha/beta per (brand, product or brand level, dimension, value) from matured rewards (reward >= success_threshold is a success; imported ads weighted by imported_ad_weight); category priors from the other opted-in brands of the category (shrunk by category_prior_shrinkage; aggregates only, over at least prior_min_peer_brands brands of prior_min_peer_organizations other organizations, rounded; in genome.brand_priors, docs/learning.md#private-priors); completed experiments'' causal_effects combined into the posterior by precision (the strongest evidence: a value''s mean anchored on the value it was tested against; an experiment''s own ads counted once, docs/learning.md#causal-evidence); cold-start level per brand in genome.genome_state (0 no data, 1 young data with full prior, 2 prior kept at 1 - brand_weight with brand_weight = min(n/100, 0.8), 3 prior rescaled to prior_n_level3); the posterior each value is sampled from, its 95% interval width and its probability of winning the Thompson draw (win_probability_draws draws); combos of 2 and 3 values. Each call is a new genome version, given to the brands it recomputes. Incremental unless p_full (docs/learning.md#incremental-update): only the brands due in genome.learning_dirty_brands (a write to their rewards, causal effects, experiment arms, category or sharing, or to the settings or registries; a reward maturing or a cold-start level reached since; at least every learning_refresh_days), brands no update has written yet, brands last updated at a later p_now, and the opted-in category peers whose published prior changed; p_full recomputes every brand (the same result on the same data, Monte Carlo draws apart). With the setting learner = joint_logistic the brand-level posteriors are instead the joint learner''s marginals (docs/learning.md#joint-learner) and product-level rows are not written for the brands it fits. Steps, in order: _update_scores_brand_priors, _update_scores_cold_start_levels, _update_scores_brand_scores, _update_scores_joint_learner, _update_scores_causal_effects, _update_scores_product_scores, _update_scores_win_probabilities, _update_scores_joint_win_probabilities, _update_scores_selection_tables (the draw tables select_elements reads), _update_scores_combos; each takes the brands to recompute (NULL: all). Returns the number of score rows written (brand and product level). GN004 bad p_now, GN090 learning_refresh_days not positive.';


-- Step 1: cold-start level per brand (docs/learning.md#cold-start), from its matured rewards.
DROP FUNCTION IF EXISTS genome._update_scores_cold_start_levels(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_cold_start_levels(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_bw_n double precision := genome._setting_num('brand_weight_n');
    v_bw_cap double precision := genome._setting_num('brand_weight_cap');
    v_level2 double precision := genome._setting_num('level2_days');
    v_level3 double precision := genome._setting_num('level3_days');
    v_rows integer;
BEGIN
    INSERT INTO genome.genome_state AS gs (
        brand_id, organization_id, genome_version, cold_start_level, matured_ads,
        first_reward_at, brand_weight, updated_at
    )
    SELECT
        b.id,
        b.organization_id,
        p_version,
        lv.level,
        coalesce(r.n, 0),
        r.first_at,
        CASE lv.level
            WHEN 2 THEN least(r.n / v_bw_n, v_bw_cap)
            WHEN 3 THEN 1.0
            ELSE 0.0
        END,
        p_now
    FROM public.brands AS b
    LEFT JOIN (
        SELECT
            cer.brand_id,
            count(*)::double precision AS n,
            min(cer.matured_at) AS first_at
        FROM genome.creative_element_rewards AS cer
        WHERE cer.matured_at <= p_now AND (p_brands IS NULL OR cer.brand_id = ANY (p_brands))
        GROUP BY cer.brand_id
    ) AS r ON r.brand_id = b.id
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN r.n IS NULL THEN 0
            WHEN extract(EPOCH FROM p_now - r.first_at) / 86400 < v_level2 THEN 1
            WHEN extract(EPOCH FROM p_now - r.first_at) / 86400 < v_level3 THEN 2
            ELSE 3
        END AS level
    ) AS lv
    WHERE p_brands IS NULL OR b.id = ANY (p_brands)
    ON CONFLICT (brand_id) DO UPDATE
    SET genome_version = excluded.genome_version,
        cold_start_level = excluded.cold_start_level,
        matured_ads = excluded.matured_ads,
        first_reward_at = excluded.first_reward_at,
        brand_weight = excluded.brand_weight,
        updated_at = excluded.updated_at;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_cold_start_levels(timestamptz, integer, uuid []) IS
'Internal step of update_scores: upserts genome.genome_state for every brand of p_brands (NULL: every brand) at genome version p_version - matured_ads and first_reward_at from the rewards matured by p_now, cold_start_level (0 no reward, 1 younger than level2_days, 2 younger than level3_days, else 3) and brand_weight (level 2: min(n / brand_weight_n, brand_weight_cap); level 3: 1; else 0). Returns the number of brands written.';


-- The matured evidence each element score counts: one row per (reward, element dimension).
DROP FUNCTION IF EXISTS genome._update_scores_evidence(timestamptz);
CREATE OR REPLACE FUNCTION genome._update_scores_evidence(p_now timestamptz, p_brands uuid [] DEFAULT NULL)
RETURNS TABLE (
    brand_id uuid,
    product_id uuid,
    dimension text,
    value text,
    success double precision,
    failure double precision,
    reward_score double precision
)
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_threshold double precision := genome._setting_num('success_threshold');
    v_imported_weight double precision := genome._setting_num('imported_ad_weight');
BEGIN
    RETURN QUERY
        SELECT
            cer.brand_id,
            cer.product_id,
            t.key AS dimension,
            t.value #>> '{}' AS value,
            w.weight * (cer.reward_score >= v_threshold)::integer AS success,
            w.weight * (cer.reward_score < v_threshold)::integer AS failure,
            cer.reward_score
        FROM genome.creative_element_rewards AS cer
        CROSS JOIN LATERAL jsonb_each(cer.element_tags) AS t
        CROSS JOIN LATERAL (
            SELECT CASE WHEN cer.is_imported THEN v_imported_weight ELSE 1.0 END AS weight
        ) AS w
        INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
        WHERE cer.matured_at <= p_now AND (p_brands IS NULL OR cer.brand_id = ANY (p_brands));
END
$$;
COMMENT ON FUNCTION genome._update_scores_evidence(timestamptz, uuid []) IS
'Internal step of update_scores: for every reward matured by p_now of the brands p_brands (NULL: all) and each of its element-kind tags, the (brand, product, dimension, value), the weighted success (reward_score >= success_threshold) or failure, weighted imported_ad_weight for imported ads and 1 otherwise, and the reward score. Read by the brand and the product scores.';


-- Step 3: brand-level scores for every brand and element value, from the brand's own evidence
-- and its prior as far as the cold-start level keeps it (docs/learning.md#cold-start).
DROP FUNCTION IF EXISTS genome._update_scores_brand_scores(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_brand_scores(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_prior_n3 double precision := genome._setting_num('prior_n_level3');
    v_rows integer;
BEGIN
    WITH evidence AS (
        SELECT * FROM genome._update_scores_evidence(p_now, p_brands)
    ),

    brand_counts AS (
        SELECT
            e.brand_id,
            e.dimension,
            e.value,
            sum(e.success) AS s,
            sum(e.failure) AS f,
            count(*) AS n,
            avg(e.reward_score) AS mean_reward
        FROM evidence AS e
        GROUP BY e.brand_id, e.dimension, e.value
    ),

    brand_rows AS (
        SELECT
            b.organization_id,
            b.id AS brand_id,
            NULL::uuid AS product_id,
            v.dimension,
            v.value,
            1.0 + coalesce(c.s, 0) AS alpha,
            1.0 + coalesce(c.f, 0) AS beta,
            coalesce(p.prior_alpha, 1.0) AS prior_alpha,
            coalesce(p.prior_beta, 1.0) AS prior_beta,
            coalesce(c.n, 0) AS n,
            c.mean_reward,
            gs.cold_start_level,
            -- How much of the prior's pseudo-evidence is kept at each level (docs/learning.md#cold-start):
            -- 0-1 all of it; 2 the complement of brand_weight; 3 rescaled to prior_n 10.
            CASE
                WHEN gs.cold_start_level <= 1 THEN 1.0
                WHEN gs.cold_start_level = 2 THEN 1.0 - gs.brand_weight
                ELSE least(1.0, v_prior_n3 / nullif(
                    coalesce(p.prior_alpha, 1.0) + coalesce(p.prior_beta, 1.0) - 2.0, 0
                ))
            END AS prior_keep
        FROM public.brands AS b
        INNER JOIN genome.genome_state AS gs ON gs.brand_id = b.id
        CROSS JOIN genome.element_values AS v
        INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'element'
        LEFT JOIN brand_counts AS c
            ON c.brand_id = b.id AND c.dimension = v.dimension AND c.value = v.value
        LEFT JOIN genome.brand_priors AS p
            ON p.brand_id = b.id AND p.element_dimension = v.dimension AND p.element_value = v.value
        WHERE p_brands IS NULL OR b.id = ANY (p_brands)
    ),

    brand_posteriors AS (
        SELECT
            br.*,
            br.alpha + coalesce(br.prior_keep, 1.0) * (br.prior_alpha - 1.0) AS posterior_alpha,
            br.beta + coalesce(br.prior_keep, 1.0) * (br.prior_beta - 1.0) AS posterior_beta
        FROM brand_rows AS br
    )

    INSERT INTO genome.creative_element_scores AS s (
        organization_id, brand_id, product_id, element_dimension, element_value, alpha, beta,
        prior_alpha, prior_beta, posterior_alpha, posterior_beta, n_rewards, mean_reward,
        cold_start_level, genome_version, created_at, updated_at
    )
    SELECT
        bp.organization_id, bp.brand_id, bp.product_id, bp.dimension, bp.value, bp.alpha, bp.beta,
        bp.prior_alpha, bp.prior_beta, bp.posterior_alpha, bp.posterior_beta, bp.n, bp.mean_reward,
        bp.cold_start_level, p_version, p_now, p_now
    FROM brand_posteriors AS bp
    ON CONFLICT (brand_id, product_id, element_dimension, element_value) DO UPDATE
    SET alpha = excluded.alpha,
        beta = excluded.beta,
        prior_alpha = excluded.prior_alpha,
        prior_beta = excluded.prior_beta,
        posterior_alpha = excluded.posterior_alpha,
        posterior_beta = excluded.posterior_beta,
        n_rewards = excluded.n_rewards,
        mean_reward = excluded.mean_reward,
        cold_start_level = excluded.cold_start_level,
        genome_version = excluded.genome_version,
        updated_at = excluded.updated_at;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_brand_scores(timestamptz, integer, uuid []) IS
'Internal step of update_scores: upserts the brand-level row (product_id NULL) of genome.creative_element_scores for every brand of p_brands (NULL: all) with a genome_state row and every element value, at genome version p_version: alpha/beta = 1 + the brand''s weighted successes/failures (genome._update_scores_evidence), prior_alpha/beta from genome.brand_priors (1 without one), and the posterior = own evidence + the part of the prior''s pseudo-evidence the cold-start level keeps (levels 0-1 all of it, 2 the complement of brand_weight, 3 rescaled to prior_n_level3). Causal evidence is added afterwards by _update_scores_causal_effects. Returns the number of rows written.';


-- Step 4: completed experiments are the strongest evidence (docs/learning.md#causal-evidence): their effects
-- move the brand-level posteriors written by step 3.
DROP FUNCTION IF EXISTS genome._update_scores_causal_effects(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_causal_effects(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_rows integer;
BEGIN
    WITH brand_posteriors AS (
        -- This version's brand-level posteriors before any causal evidence (the statement
        -- reads them as they were before its own update).
        SELECT
            s.id,
            s.brand_id,
            s.element_dimension AS dimension,
            s.element_value AS value,
            s.posterior_alpha,
            s.posterior_beta
        FROM genome.creative_element_scores AS s
        WHERE s.genome_version = p_version AND s.product_id IS NULL
    ),

    counted AS (
        -- docs/learning.md#causal-evidence: the share of an experiment's evidence (its arms'
        -- impressions) whose ads already have a matured reward in the brand's evidence, and so
        -- are in the learner's posterior (the joint learner's per-ad trials, the one-bit
        -- learner's counts). Only the rest is new: the effect's precision is scaled by 1 - share.
        SELECT
            ce.id,
            coalesce(
                sum(greatest(a.total_impressions, 1)) FILTER (WHERE EXISTS (
                    SELECT 1 FROM genome.creative_element_rewards AS cer
                    WHERE cer.generated_ad_id = a.generated_ad_id AND cer.brand_id = ce.brand_id
                      AND cer.matured_at <= p_now
                ))::double precision / sum(greatest(a.total_impressions, 1)),
                0.0
            ) AS share
        FROM genome.causal_effects AS ce
        LEFT JOIN genome.experiment_arms AS a
            ON a.experiment_id = ce.experiment_id
            AND a.test_variable_value IN (ce.control_value, ce.treatment_value)
        WHERE ce.created_at <= p_now AND (p_brands IS NULL OR ce.brand_id = ANY (p_brands))
        GROUP BY ce.id
    ),

    causal AS (
        -- Completed experiments are the strongest evidence (docs/learning.md#causal-evidence): each effect is a
        -- belief about a value's mean relative to the value it was tested against, in both
        -- directions (sd from the 95% interval of the relative effect, widened by the share
        -- of it already counted).
        SELECT
            ce.brand_id,
            ce.test_variable AS dimension,
            x.value,
            x.anchor,
            x.lift,
            x.sd / sqrt(1.0 - cnt.share) AS sd
        FROM genome.causal_effects AS ce
        INNER JOIN counted AS cnt ON cnt.id = ce.id
        CROSS JOIN LATERAL (
            VALUES
            (
                ce.treatment_value, ce.control_value, ce.relative_effect::double precision,
                (ce.relative_ci_upper - ce.relative_ci_lower) / 3.919928
            ),
            (
                ce.control_value, ce.treatment_value,
                1.0 / (1.0 + ce.relative_effect::double precision) - 1.0,
                (ce.relative_ci_upper - ce.relative_ci_lower) / 3.919928
                / (1.0 + ce.relative_effect::double precision) ^ 2
            )
        ) AS x (value, anchor, lift, sd)
        WHERE ce.created_at <= p_now
          AND ce.relative_ci_upper > ce.relative_ci_lower
          AND ce.relative_effect > -1
          -- Entirely counted already: nothing to add.
          AND cnt.share < 1.0 - 1e-9
    ),

    causal_means AS (
        -- The anchor's posterior mean times (1 + lift); variance by the delta method; several
        -- experiments on one value combine by precision.
        SELECT
            c.brand_id,
            c.dimension,
            c.value,
            sum(m.mu / m.v) AS weighted_sum,
            sum(1.0 / m.v) AS precision,
            count(*) AS n_effects
        FROM causal AS c
        INNER JOIN brand_posteriors AS a
            ON a.brand_id = c.brand_id AND a.dimension = c.dimension AND a.value = c.anchor
        CROSS JOIN LATERAL genome._beta_moments(a.posterior_alpha, a.posterior_beta) AS an (ma, va)
        CROSS JOIN LATERAL (
            SELECT
                an.ma * (1.0 + c.lift) AS mu,
                an.ma ^ 2 * c.sd ^ 2 + (1.0 + c.lift) ^ 2 * an.va AS v
        ) AS m
        WHERE m.v > 0
        GROUP BY c.brand_id, c.dimension, c.value
    ),

    brand_causal AS (
        -- Combined with the genome's own Beta by precision and turned back into a Beta whose
        -- pseudo-count never falls below the genome's (causal evidence only adds information).
        SELECT
            bp.id,
            comb.m * comb.n AS posterior_alpha,
            (1.0 - comb.m) * comb.n AS posterior_beta
        FROM brand_posteriors AS bp
        INNER JOIN causal_means AS cm
            ON cm.brand_id = bp.brand_id AND cm.dimension = bp.dimension AND cm.value = bp.value
        CROSS JOIN LATERAL genome._beta_moments(bp.posterior_alpha, bp.posterior_beta) AS own (mg, vg)
        CROSS JOIN LATERAL (
            SELECT
                least(0.999, greatest(0.001,
                    (own.mg / own.vg + coalesce(cm.weighted_sum, 0))
                    / (1.0 / own.vg + coalesce(cm.precision, 0))
                )) AS m,
                1.0 / (1.0 / own.vg + coalesce(cm.precision, 0)) AS v
        ) AS comb0
        CROSS JOIN LATERAL (
            SELECT
                comb0.m,
                greatest(
                    comb0.m * (1.0 - comb0.m) / comb0.v - 1.0,
                    bp.posterior_alpha + bp.posterior_beta
                ) AS n
        ) AS comb
    )

    UPDATE genome.creative_element_scores AS s
    SET posterior_alpha = bc.posterior_alpha,
        posterior_beta = bc.posterior_beta
    FROM brand_causal AS bc
    WHERE s.id = bc.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_causal_effects(timestamptz, integer, uuid []) IS
'Internal step of update_scores: combines the causal_effects recorded by p_now (of the brands p_brands; NULL: all) into this version''s (p_version) brand-level posteriors. Each effect is a belief about a value''s mean relative to the value it was tested against, in both directions (sd from the 95% interval of the relative effect): the anchor''s posterior mean times (1 + lift), variance by the delta method, on the scale of the posterior the learner wrote (with the joint learner, the objective''s success rate). An experiment''s own ads are counted once: the share of its arms'' impressions whose ads already have a matured reward by p_now is in the posterior through the learner, so the effect''s precision is scaled by 1 - that share (an experiment whose ads have all matured adds nothing; docs/learning.md#causal-evidence); several effects on one value combine by precision, then with the genome''s own Beta, and the result is turned back into a Beta whose pseudo-count never falls below the genome''s. Returns the number of brand-level rows moved.';


-- Step 5: product-level scores for products with evidence, shrunk towards their brand.
DROP FUNCTION IF EXISTS genome._update_scores_product_scores(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_product_scores(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_prior_n3 double precision := genome._setting_num('prior_n_level3');
    v_brands uuid [] := p_brands;
    v_rows integer;
BEGIN
    -- Brands the joint learner fitted at this version keep brand-level rows only
    -- (docs/learning.md#joint-learner): their evidence is not read at all.
    IF EXISTS (SELECT 1 FROM genome.learner_posteriors AS lp WHERE lp.genome_version = p_version) THEN
        v_brands := ARRAY(
            SELECT b.id FROM public.brands AS b
            WHERE (p_brands IS NULL OR b.id = ANY (p_brands))
              AND NOT EXISTS (
                  SELECT 1 FROM genome.learner_posteriors AS lp
                  WHERE lp.brand_id = b.id AND lp.genome_version = p_version
              )
        );
    END IF;

    WITH evidence AS (
        SELECT * FROM genome._update_scores_evidence(p_now, v_brands)
    ),

    brand_causal AS (
        -- This version's brand-level posteriors, causal evidence included.
        SELECT
            s.organization_id,
            s.brand_id,
            s.element_dimension AS dimension,
            s.element_value AS value,
            s.posterior_alpha,
            s.posterior_beta,
            s.cold_start_level
        FROM genome.creative_element_scores AS s
        WHERE s.genome_version = p_version AND s.product_id IS NULL
    ),

    product_counts AS (
        SELECT
            e.brand_id,
            e.product_id,
            e.dimension,
            e.value,
            sum(e.success) AS s,
            sum(e.failure) AS f,
            count(*) AS n,
            avg(e.reward_score) AS mean_reward
        FROM evidence AS e
        WHERE e.product_id IS NOT NULL
        GROUP BY e.brand_id, e.product_id, e.dimension, e.value
    ),

    product_rows AS (
        SELECT
            bp.organization_id,
            bp.brand_id,
            pp.product_id,
            bp.dimension,
            bp.value,
            1.0 + coalesce(c.s, 0) AS alpha,
            1.0 + coalesce(c.f, 0) AS beta,
            -- The brand posterior is the product's prior, capped at prior_n pseudo-observations.
            1.0 + keep.k * (bp.posterior_alpha - 1.0) AS prior_alpha,
            1.0 + keep.k * (bp.posterior_beta - 1.0) AS prior_beta,
            coalesce(c.n, 0) AS n,
            c.mean_reward,
            bp.cold_start_level
        FROM (SELECT DISTINCT pc.brand_id, pc.product_id FROM product_counts AS pc) AS pp
        INNER JOIN brand_causal AS bp ON bp.brand_id = pp.brand_id
        LEFT JOIN product_counts AS c
            ON c.product_id = pp.product_id AND c.dimension = bp.dimension AND c.value = bp.value
        CROSS JOIN LATERAL (
            SELECT least(1.0, v_prior_n3 / nullif(bp.posterior_alpha + bp.posterior_beta - 2.0, 0)) AS k
        ) AS keep_raw
        CROSS JOIN LATERAL (SELECT coalesce(keep_raw.k, 1.0) AS k) AS keep
    )

    INSERT INTO genome.creative_element_scores AS s (
        organization_id, brand_id, product_id, element_dimension, element_value, alpha, beta,
        prior_alpha, prior_beta, posterior_alpha, posterior_beta, n_rewards, mean_reward,
        cold_start_level, genome_version, created_at, updated_at
    )
    SELECT
        pr.organization_id, pr.brand_id, pr.product_id, pr.dimension, pr.value, pr.alpha, pr.beta,
        pr.prior_alpha, pr.prior_beta, pr.alpha + pr.prior_alpha - 1.0, pr.beta + pr.prior_beta - 1.0,
        pr.n, pr.mean_reward, pr.cold_start_level, p_version, p_now, p_now
    FROM product_rows AS pr
    ON CONFLICT (brand_id, product_id, element_dimension, element_value) DO UPDATE
    SET alpha = excluded.alpha,
        beta = excluded.beta,
        prior_alpha = excluded.prior_alpha,
        prior_beta = excluded.prior_beta,
        posterior_alpha = excluded.posterior_alpha,
        posterior_beta = excluded.posterior_beta,
        n_rewards = excluded.n_rewards,
        mean_reward = excluded.mean_reward,
        cold_start_level = excluded.cold_start_level,
        genome_version = excluded.genome_version,
        updated_at = excluded.updated_at;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_product_scores(timestamptz, integer, uuid []) IS
'Internal step of update_scores: upserts a product-level row of genome.creative_element_scores, at genome version p_version, for every element value of every product with matured evidence of the brands p_brands (NULL: all) but those the joint learner fitted at p_version (their evidence is not read; docs/learning.md#joint-learner): alpha/beta = 1 + the product''s weighted successes/failures, the prior = its brand''s version-p_version posterior (causal evidence included) capped at prior_n_level3 pseudo-observations, the posterior = evidence + prior. Returns the number of rows written.';


-- Step 6: each value's probability of winning the Thompson draw of its dimension, computed
-- once per version so selection needs no sampling loop (docs/learning.md).
CREATE OR REPLACE FUNCTION genome._update_scores_win_probabilities(p_version integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_draws integer := genome._setting_num('win_probability_draws')::integer;
    v_rows integer;
BEGIN
    WITH ranked AS (
        SELECT
            s.id,
            s.posterior_alpha,
            s.posterior_beta,
            dense_rank() OVER (ORDER BY s.brand_id, s.product_id, s.element_dimension)::integer AS grp,
            row_number() OVER (
                ORDER BY s.brand_id, s.product_id, s.element_dimension, s.element_value
            )::integer AS rn,
            -- Not the rows _update_scores_joint_win_probabilities overwrites next: the
            -- brand-level rows of a brand the joint learner fitted at this version whose value
            -- is a parameter of every stage (a group with any other row is drawn whole).
            NOT (
                s.product_id IS NULL
                AND EXISTS (
                    SELECT 1 FROM genome.learner_posteriors AS lp
                    WHERE lp.brand_id = s.brand_id AND lp.genome_version = p_version
                )
                AND NOT EXISTS (
                    SELECT 1 FROM genome.learner_posteriors AS lp
                    WHERE lp.brand_id = s.brand_id
                      AND NOT (s.element_dimension || '=' || s.element_value) = ANY (lp.parameters)
                )
            ) AS draw
        FROM genome.creative_element_scores AS s
        WHERE s.genome_version = p_version
    ),

    arrays AS (
        SELECT
            array_agg(r.id ORDER BY r.rn) AS ids,
            array_agg(r.grp ORDER BY r.rn) AS grps,
            array_agg(r.posterior_alpha ORDER BY r.rn) AS a,
            array_agg(r.posterior_beta ORDER BY r.rn) AS b,
            array_agg(r.draw ORDER BY r.rn) AS draw
        FROM ranked AS r
    ),

    summaries AS (
        SELECT
            arrays.ids[x.idx] AS id,
            x.win_probability,
            x.confidence_width
        FROM arrays
        CROSS JOIN LATERAL genome._beta_summaries(
            arrays.grps, arrays.a, arrays.b, v_draws, p_version, arrays.draw
        ) AS x
        WHERE arrays.ids IS NOT NULL
    )

    UPDATE genome.creative_element_scores AS s
    SET win_probability = CASE
            WHEN sm.win_probability IS NOT NULL THEN least(1.0, greatest(0.0, sm.win_probability))
        END,
        confidence_width = sm.confidence_width
    FROM summaries AS sm
    WHERE s.id = sm.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_win_probabilities(integer) IS
'Internal step of update_scores: for every genome.creative_element_scores row of version p_version, the width of its 95% interval and its probability of winning the Thompson draw among the values of its (brand, product, dimension), from win_probability_draws draws of genome._beta_summaries seeded by the version (the same version gives the same numbers). The rows _update_scores_joint_win_probabilities overwrites next (brand-level rows of a brand the joint learner fitted at p_version whose value is a parameter of every stage) are not drawn when their whole (brand, dimension) is: their win_probability is left NULL for that step. Returns the number of rows updated.';


-- Step 7: combos of 2 and 3 element values (brand level).
DROP FUNCTION IF EXISTS genome._update_scores_combos(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_combos(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
-- Called on its own too: the grouping sets' estimate passes jit_above_cost (as in update_scores).
SET jit = off
-- Every grouping set's hash table at once: the 20 sets of a 20-brand rebuild (400K
-- (reward, combo) pairs) stay in memory instead of being sorted set by set.
SET work_mem = '64MB'
AS $$
DECLARE
    v_threshold double precision := genome._setting_num('success_threshold');
    v_combo_min integer := genome._setting_num('combo_min_n')::integer;
    -- The element dimensions in the order a combo lists them (ascending, as compared).
    v_dims text [] := ARRAY(
        SELECT d.dimension FROM genome.element_dimensions AS d WHERE d.kind = 'element'
        ORDER BY d.dimension
    );
    v_n integer := cardinality(v_dims);
    v_columns text := '';
    v_sets text [] := '{}';
    -- Per output column, its CASE branches: triples first (a pair's condition holds for
    -- no triple's group), then pairs.
    v_triples text [] := ARRAY['', '', '', ''];
    v_pairs text [] := ARRAY['', '', '', ''];
    v_idx integer [];
    v_when text;
    v_set text [];
    v_rows integer := 0;
BEGIN
    -- docs/learning.md#combos. One pass over the rewards grouped by every pair and triple of
    -- element dimensions at once (GROUPING SETS), instead of joining each reward's tags to
    -- themselves twice (one brand's 2,121 combos: 133 -> 78 ms; 20 brands': 2.3 -> 1.2 s). Per
    -- dimension i two columns: x<i>, its value as text (NULL for a JSON null), and h<i>,
    -- whether the reward carries the dimension at all. In a group, h<i> is NULL when i is
    -- not in the group's set (that is how the set is read back) and false for the rewards
    -- without dimension i, which are in no combo of that set.
    IF v_n >= 2 THEN
        FOR i IN 1 .. v_n LOOP
            v_columns := v_columns || format(
                ', cer.element_tags ->> %1$L AS x%2$s, cer.element_tags ? %1$L AS h%2$s', v_dims[i], i
            );
            FOR j IN i + 1 .. v_n LOOP
                FOR k IN j .. v_n LOOP
                    -- k = j: the pair (i, j); else the triple (i, j, k).
                    v_idx := CASE WHEN k = j THEN ARRAY[i, j] ELSE ARRAY[i, j, k] END;
                    v_sets := v_sets || (
                        SELECT '(' || string_agg(format('r.x%1$s, r.h%1$s', x), ', ') || ')'
                        FROM unnest(v_idx) AS x
                    );
                    -- The set's group: its dimensions' h not NULL. Its dimensions, values,
                    -- whether every reward of the group carries them, and its combo key
                    -- (an element with a NULL value left out, as array_to_string does).
                    SELECT
                        'WHEN ' || string_agg(format('g.h%s IS NOT NULL', x), ' AND ') || ' THEN ',
                        ARRAY[
                            'ARRAY[' || string_agg(format('%L', v_dims[x]), ', ') || ']::text []',
                            'ARRAY[' || string_agg(format('g.x%s', x), ', ') || ']::text []',
                            string_agg(format('g.h%s', x), ' AND '),
                            'array_to_string(ARRAY['
                            || string_agg(format('%L || g.x%s', v_dims[x] || '=', x), ', ')
                            || ']::text [], ''|'')'
                        ]
                    INTO v_when, v_set
                    FROM unnest(v_idx) AS x;
                    FOR c IN 1 .. 4 LOOP
                        IF k = j THEN
                            v_pairs[c] := v_pairs[c] || ' ' || v_when || v_set[c];
                        ELSE
                            v_triples[c] := v_triples[c] || ' ' || v_when || v_set[c];
                        END IF;
                    END LOOP;
                END LOOP;
            END LOOP;
        END LOOP;
        EXECUTE format(
            $sql$
            WITH grouped AS (
                SELECT
                    r.organization_id,
                    r.brand_id,
                    count(*) AS n,
                    sum(r.success) AS s,
                    avg(r.reward_score) AS mean_reward,
                    %1$s
                FROM (
                    SELECT
                        cer.organization_id,
                        cer.brand_id,
                        (cer.reward_score >= $3)::integer AS success,
                        cer.reward_score
                        %2$s
                    FROM genome.creative_element_rewards AS cer
                    WHERE cer.matured_at <= $1 AND ($2 IS NULL OR cer.brand_id = ANY ($2))
                ) AS r
                GROUP BY r.organization_id, r.brand_id, GROUPING SETS (%3$s)
                HAVING count(*) >= $4
            ),

            combos AS (
                SELECT
                    g.organization_id,
                    g.brand_id,
                    g.n,
                    g.s,
                    g.mean_reward,
                    CASE %4$s END AS dims,
                    CASE %5$s END AS vals,
                    CASE %6$s END AS present,
                    CASE %7$s END AS combo_key
                FROM grouped AS g
            ),

            -- The combos a brand already has are updated in place (HOT, fillfactor 50), the
            -- new ones inserted: as an upsert, every existing row first went through the
            -- insert path and its tenant-key trigger's lookups (about half of the step's
            -- write time for one brand's 6,000 combos).
            updated AS (
                UPDATE genome.element_combo_scores AS cs
                SET alpha = 1.0 + c.s,
                    beta = 1.0 + c.n - c.s,
                    n_rewards = c.n,
                    mean_reward = c.mean_reward,
                    genome_version = $5,
                    updated_at = $1
                FROM combos AS c
                WHERE c.present AND cs.brand_id = c.brand_id AND cs.product_id IS NULL
                  AND cs.combo_key = c.combo_key
                  -- (said again of the table: the planner then reads the brands' rows only,
                  -- not every brand's combos into a hash join)
                  AND ($2 IS NULL OR cs.brand_id = ANY ($2))
                RETURNING cs.brand_id, cs.combo_key
            ),

            inserted AS (
                INSERT INTO genome.element_combo_scores AS cs (
                    organization_id, brand_id, product_id, combo_size, dimensions, element_values,
                    combo_key, alpha, beta, n_rewards, mean_reward, genome_version, updated_at
                )
                SELECT
                    c.organization_id,
                    c.brand_id,
                    NULL,
                    cardinality(c.dims),
                    c.dims,
                    c.vals,
                    c.combo_key,
                    1.0 + c.s,
                    1.0 + c.n - c.s,
                    c.n,
                    c.mean_reward,
                    $5,
                    $1
                FROM combos AS c
                WHERE c.present AND NOT EXISTS (
                    SELECT 1 FROM updated AS u WHERE u.brand_id = c.brand_id AND u.combo_key = c.combo_key
                )
                ON CONFLICT (brand_id, product_id, combo_key) DO UPDATE
                SET alpha = excluded.alpha,
                    beta = excluded.beta,
                    n_rewards = excluded.n_rewards,
                    mean_reward = excluded.mean_reward,
                    genome_version = excluded.genome_version,
                    updated_at = excluded.updated_at
                RETURNING 1
            )

            SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted)
            $sql$,
            (SELECT string_agg(format('r.x%1$s AS x%1$s, r.h%1$s AS h%1$s', i), ', ') FROM generate_series(1, v_n) AS i),
            v_columns,
            array_to_string(v_sets, ', '),
            v_triples[1] || v_pairs[1],
            v_triples[2] || v_pairs[2],
            v_triples[3] || v_pairs[3],
            v_triples[4] || v_pairs[4]
        ) INTO v_rows USING p_now, p_brands, v_threshold, v_combo_min, p_version;
    END IF;
    DELETE FROM genome.element_combo_scores AS cs
    WHERE cs.genome_version < p_version AND (p_brands IS NULL OR cs.brand_id = ANY (p_brands));
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_combos(timestamptz, integer, uuid []) IS
'Internal step of update_scores: upserts genome.element_combo_scores (brand level) of the brands p_brands (NULL: all) for every combination of 2 and 3 element values that occurs together in at least combo_min_n rewards matured by p_now (alpha/beta = 1 + unweighted successes/failures at success_threshold, n_rewards, mean_reward) at genome version p_version, and deletes those brands'' combos of older versions. Returns the number of combos written.';
