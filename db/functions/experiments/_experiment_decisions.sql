-- docs/experiments.md#stopping-rules over the posterior core: winner, futility, inconclusive, SRM hold.
-- analyze_experiments calls this for the running experiments; simulations call it for
-- thousands of (experiment, day) groups at once, so both run the same rules.

-- One piece on purpose: a single query over arrays of many (experiment, day) groups at once
-- (the simulations pass thousands), whose named CTEs (input, posteriors, verdicts,
-- recommended) all read the one call of _experiment_posteriors and its Monte Carlo draws;
-- as separate functions those draws would have to travel between them as arrays.

-- The earlier signature without p_spend (and its shorter result).
DROP FUNCTION IF EXISTS genome._experiment_decisions(
    integer [], integer [], bigint [], bigint [], bigint [], double precision [],
    double precision [], double precision [], double precision [], boolean [], bigint
);

CREATE OR REPLACE FUNCTION genome._experiment_decisions(
    p_group integer [],
    p_arm integer [],
    p_impressions bigint [],
    p_trials bigint [],
    p_successes bigint [],
    p_planned_share double precision [],
    p_baseline double precision [],
    p_planned_trials double precision [],
    p_significance double precision [],
    p_final boolean [],
    p_seed bigint DEFAULT NULL,
    p_spend double precision [] DEFAULT NULL
)
RETURNS TABLE (
    idx integer,
    grp integer,
    arm integer,
    prior_alpha double precision,
    prior_beta double precision,
    posterior_alpha double precision,
    posterior_beta double precision,
    posterior_mean double precision,
    prob_best double precision,
    expected_loss double precision,
    effect_mean double precision,
    effect_lower double precision,
    effect_upper double precision,
    relative_effect double precision,
    relative_lower double precision,
    relative_upper double precision,
    prob_positive double precision,
    srm_p_value double precision,
    min_impressions double precision,
    ready boolean,
    best_arm integer,
    decision text,
    stop_reason text,
    recommendation text,
    srm boolean,
    srm_deviation double precision,
    delivery_p_value double precision,
    delivery_imbalance boolean
)
LANGUAGE sql
VOLATILE
SET search_path = genome, public
AS $$
    WITH params AS (
        SELECT
            genome._setting_num('experiment_prior_strength') AS prior_k,
            genome._setting_num('experiment_min_sample_fraction') AS min_fraction,
            genome._setting_num('experiment_min_impressions') AS min_impressions,
            genome._setting_num('experiment_max_sample_multiple') AS max_multiple,
            genome._setting_num('experiment_futility_prob_best') AS futility,
            genome._setting_num('experiment_srm_alpha') AS srm_alpha,
            genome._setting_num('experiment_srm_min_deviation') AS srm_min_deviation,
            genome._setting_num('experiment_mc_draws')::integer AS draws
    ),

    input AS (
        SELECT
            t.*,
            -- Sceptical prior centred on the baseline, worth prior_k planned samples.
            -- Without a plan (no planned trials or baseline) the prior is the flat Beta(1, 1).
            1.0 + prm.prior_k * coalesce(t.planned_trials * t.baseline, 0) AS prior_alpha,
            1.0 + prm.prior_k * coalesce(t.planned_trials * (1.0 - t.baseline), 0) AS prior_beta,
            t.share > 0 AS active,
            t.impressions >= prm.min_impressions
            AND t.trials >= prm.min_fraction * coalesce(t.planned_trials, 0) AS has_min_sample,
            coalesce(t.planned_trials > 0 AND t.trials >= prm.max_multiple * t.planned_trials, false)
                AS has_planned_sample
        FROM unnest(
            p_group, p_arm, p_impressions, p_trials, p_successes, p_planned_share, p_baseline,
            p_planned_trials, p_significance, p_final
        ) WITH ORDINALITY AS t (
            grp, arm, impressions, trials, successes, share, baseline, planned_trials,
            significance, final, idx
        )
        CROSS JOIN params AS prm
    ),

    arrays AS (
        SELECT
            array_agg(i.grp ORDER BY i.idx) AS grps,
            array_agg(i.arm = 0 ORDER BY i.idx) AS controls,
            array_agg(i.successes::double precision ORDER BY i.idx) AS successes,
            array_agg(i.trials::double precision ORDER BY i.idx) AS trials,
            array_agg(i.prior_alpha ORDER BY i.idx) AS prior_alpha,
            array_agg(i.prior_beta ORDER BY i.idx) AS prior_beta,
            array_agg(i.impressions::double precision ORDER BY i.idx) AS impressions,
            array_agg(i.share ORDER BY i.idx) AS shares,
            -- p_spend[idx]: the arm's spend in input order (NULL array: impressions only).
            CASE WHEN p_spend IS NOT NULL THEN array_agg(p_spend[i.idx] ORDER BY i.idx) END AS spend
        FROM input AS i
    ),

    posteriors AS (
        SELECT x.*
        FROM arrays
        CROSS JOIN params AS prm
        CROSS JOIN LATERAL genome._experiment_posteriors(
            arrays.grps, arrays.controls, arrays.successes, arrays.trials, arrays.prior_alpha,
            arrays.prior_beta, arrays.impressions, arrays.shares, prm.draws, p_seed, arrays.spend
        ) AS x
        WHERE arrays.grps IS NOT NULL
    ),

    joined AS (
        SELECT
            i.*,
            po.posterior_alpha,
            po.posterior_beta,
            po.posterior_mean,
            po.prob_best,
            po.expected_loss,
            po.effect_mean,
            po.effect_lower,
            po.effect_upper,
            po.relative_effect,
            po.relative_lower,
            po.relative_upper,
            po.prob_positive,
            po.srm_p_value,
            po.srm_deviation,
            po.delivery_p_value,
            po.delivery_deviation
        FROM input AS i
        INNER JOIN posteriors AS po ON po.idx = i.idx
    ),

    groups AS (
        SELECT
            j.grp,
            coalesce(bool_and(j.has_min_sample) FILTER (WHERE j.active), false) AS ready,
            coalesce(bool_and(j.has_planned_sample) FILTER (WHERE j.active), false) AS sample_done,
            bool_or(j.final) AS final,
            max(j.significance) AS significance,
            max(j.srm_p_value) AS srm_p_value,
            max(j.srm_deviation) AS srm_deviation,
            max(j.delivery_p_value) AS delivery_p_value,
            max(j.delivery_deviation) AS delivery_deviation,
            (array_agg(j.arm ORDER BY j.prob_best DESC, j.arm))[1] AS best_arm,
            max(j.prob_best) AS best_prob
        FROM joined AS j
        GROUP BY j.grp
    ),

    flagged AS (
        -- docs/experiments.md#srm: a mismatch needs both a chi-square p-value below
        -- experiment_srm_alpha and a share off by experiment_srm_min_deviation.
        SELECT
            g.*,
            coalesce(g.srm_p_value < prm.srm_alpha AND g.srm_deviation > prm.srm_min_deviation, false)
                AS srm,
            coalesce(
                g.delivery_p_value < prm.srm_alpha AND g.delivery_deviation > prm.srm_min_deviation, false
            ) AS delivery_imbalance
        FROM groups AS g
        CROSS JOIN params AS prm
    ),

    verdicts AS (
        -- At max_days every experiment ends (docs/experiments.md#stopping-rules): a mismatch
        -- holds a verdict until then, never past it, and is noted with the verdict.
        SELECT
            g.*,
            CASE
                WHEN (g.final OR NOT g.srm) AND g.ready AND g.best_prob > g.significance THEN 'winner'
                WHEN g.final THEN 'inconclusive'
                WHEN g.srm THEN 'srm_hold'
                WHEN g.sample_done THEN 'inconclusive'
                ELSE 'continue'
            END AS verdict,
            CASE
                WHEN g.final THEN 'max_days'
                WHEN g.sample_done THEN 'planned_sample'
            END AS end_reason
        FROM flagged AS g
    ),

    recommended AS (
        SELECT
            j.*,
            v.ready AS group_ready,
            v.best_arm,
            v.verdict,
            v.end_reason,
            v.srm AS group_srm,
            v.srm_deviation AS group_srm_deviation,
            v.delivery_p_value AS group_delivery_p_value,
            v.delivery_imbalance AS group_delivery_imbalance,
            CASE
                WHEN v.verdict = 'winner' AND j.arm = v.best_arm THEN 'winner'
                WHEN v.verdict = 'winner' THEN 'pause'
                WHEN v.verdict = 'srm_hold' THEN 'continue'
                WHEN j.active AND j.has_min_sample AND j.prob_best < prm.futility THEN 'pause'
                ELSE 'continue'
            END AS rec
        FROM joined AS j
        INNER JOIN verdicts AS v ON v.grp = j.grp
        CROSS JOIN params AS prm
    )

    SELECT
        r.idx::integer,
        r.grp,
        r.arm,
        r.prior_alpha,
        r.prior_beta,
        r.posterior_alpha,
        r.posterior_beta,
        r.posterior_mean,
        r.prob_best,
        r.expected_loss,
        r.effect_mean,
        r.effect_lower,
        r.effect_upper,
        r.relative_effect,
        r.relative_lower,
        r.relative_upper,
        r.prob_positive,
        r.srm_p_value,
        greatest(prm.min_impressions, 0)::double precision,
        r.group_ready,
        r.best_arm,
        CASE
            WHEN r.verdict = 'continue' AND bool_or(r.rec = 'pause') OVER (PARTITION BY r.grp)
                THEN 'futility_pause'
            ELSE r.verdict
        END,
        CASE WHEN r.verdict = 'inconclusive' THEN r.end_reason END,
        r.rec,
        r.group_srm,
        r.group_srm_deviation,
        r.group_delivery_p_value,
        r.group_delivery_imbalance
    FROM recommended AS r
    CROSS JOIN params AS prm
    ORDER BY r.idx;
$$;
COMMENT ON FUNCTION genome._experiment_decisions(
    integer [], integer [], bigint [], bigint [], bigint [], double precision [],
    double precision [], double precision [], double precision [], boolean [], bigint,
    double precision []
) IS
'Internal: the daily decision (docs/experiments.md#stopping-rules) for many experiment groups at once (one row per arm; arm 0 is the control; per-group values repeated per row). Each arm gets the sceptical prior Beta(1 + k N p0, 1 + k N (1 - p0)) (k = experiment_prior_strength, N = planned trials per arm, p0 = baseline; Beta(1,1) when either is NULL) and the posterior core genome._experiment_posteriors (experiment_mc_draws draws). An arm has its minimum sample with experiment_min_impressions impressions and experiment_min_sample_fraction of its planned trials. Sample-ratio mismatch (srm, docs/experiments.md#srm): the chi-square p-value of the active arms'' p_spend (in impressions at their pooled CPM; the impressions when p_spend is NULL) against planned_share is below experiment_srm_alpha and a share is off by more than experiment_srm_min_deviation; with p_spend the same test on impressions is the delivery_imbalance report (CPM differences), which decides nothing. Decision per group: winner when every active arm (planned_share > 0) has its minimum sample and the best arm''s P(best) exceeds p_significance, unless a mismatch holds it; at p_final (max_days) the experiment always ends, winner or inconclusive, a mismatch noted (srm) but never holding it; srm_hold before max_days when a mismatch holds the verdict; inconclusive once every active arm has experiment_max_sample_multiple x its planned trials, when planned (stop_reason max_days / planned_sample); futility_pause when an arm with its minimum sample has P(best) below experiment_futility_prob_best (recommendation pause); else continue. GN030 from the core on malformed input.';
