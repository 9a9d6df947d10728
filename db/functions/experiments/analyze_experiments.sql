-- Daily: posteriors and decisions of the running experiments, the analysis history, SRM
-- alerts, and on completion the causal knowledge base (docs/experiments.md).
-- analyze_experiments reads each running experiment's arm data and decisions through its
-- steps _analyze_experiments_arm_data and _analyze_experiments_decisions, then writes every
-- result in one statement.
-- One piece on purpose: the writes (arms, analysis history, experiment status, futility
-- pauses in the plan, causal effects, SRM alerts) all follow from the same decision rows and
-- must land together; each is a named CTE of that one statement.

CREATE OR REPLACE FUNCTION genome.analyze_experiments(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_today date;
    v_rows integer;
    v_min_ads integer := genome._setting_int('experiment_min_ads_per_arm');
    v_futility double precision := genome._setting_num('experiment_futility_prob_best');
BEGIN
    PERFORM genome._require_now(p_now);
    v_today := (p_now AT TIME ZONE 'UTC')::date;

    -- One statement on purpose: its data-modifying CTEs (arms, history, experiments, causal
    -- effects, SRM alerts) all write from the one set of decisions, drawn once (Monte Carlo)
    -- and seen by every write in the same snapshot; split into statements, each would have
    -- to persist the decisions for the next or recompute them from tables already changed.
    WITH decided AS (
        SELECT * FROM genome._analyze_experiments_decisions(p_now)
    ),

    paused AS (
        -- docs/experiments.md#futility: a futile arm is paused in the plan (its budget and
        -- share go to 0, so its stopped delivery is no mismatch) while two arms stay active;
        -- beyond that it is only recommended.
        SELECT d.experiment_id, d.arm_id, d.arm_index, d.prob_best
        FROM decided AS d
        WHERE d.decision = 'futility_pause' AND d.recommendation = 'pause' AND d.arm_status = 'active'
          AND (
              SELECT count(*) FILTER (WHERE o.arm_status = 'active' AND o.recommendation <> 'pause')
              FROM decided AS o
              WHERE o.experiment_id = d.experiment_id
          ) >= 2
    ),

    plan AS (
        -- Every arm's plan after today's pauses: the active arms' shares renormalised.
        SELECT
            d.arm_id,
            p.arm_id IS NOT NULL AS pausing,
            CASE WHEN p.arm_id IS NOT NULL OR d.arm_status <> 'active' THEN 0.0
                 ELSE d.planned_share / nullif(sum(d.planned_share) FILTER (
                     WHERE p.arm_id IS NULL AND d.arm_status = 'active'
                 ) OVER (PARTITION BY d.experiment_id), 0) END AS planned_share
        FROM decided AS d
        LEFT JOIN paused AS p ON p.arm_id = d.arm_id
    ),

    experiment_results AS (
        SELECT
            d.experiment_id,
            d.organization_id,
            d.brand_id,
            d.experiment_name,
            d.test_variable,
            d.primary_metric,
            d.days_elapsed,
            min(d.decision) AS decision,
            min(d.stop_reason) AS stop_reason,
            min(d.srm_p_value) AS srm_p_value,
            bool_or(d.srm) AS srm,
            min(d.srm_deviation) AS srm_deviation,
            min(d.delivery_p_value) AS delivery_p_value,
            bool_or(d.delivery_imbalance) AS delivery_imbalance,
            -- docs/experiments.md#ad-level: fewer than experiment_min_ads_per_arm creatives in
            -- an arm measure the ads, not the element.
            CASE WHEN min(d.ads) >= v_min_ads THEN 'element' ELSE 'ad_level' END AS scope,
            array_agg(d.arm_index ORDER BY d.arm_index) FILTER (
                WHERE d.arm_id IN (SELECT p.arm_id FROM paused AS p)
            ) AS paused_arms,
            min(d.arm_id::text) FILTER (WHERE d.recommendation = 'winner')::uuid AS winning_arm_id,
            jsonb_agg(jsonb_build_object(
                'arm_index', d.arm_index,
                'arm_name', d.arm_name,
                'value', d.test_variable_value,
                'data_source', d.data_source,
                'status', d.arm_status,
                'ads', d.ads,
                'planned_share', d.planned_share,
                'spend', d.spend,
                'impressions', d.impressions,
                'trials', d.trials,
                'successes', d.successes,
                'posterior_mean', d.posterior_mean,
                'prob_best', d.prob_best,
                'expected_loss', d.expected_loss,
                'effect', d.effect_mean,
                'effect_ci', CASE WHEN d.effect_mean IS NOT NULL
                    THEN jsonb_build_array(d.effect_lower, d.effect_upper) END,
                'prob_positive', d.prob_positive,
                'recommendation', d.recommendation
            ) ORDER BY d.arm_index) AS arms
        FROM decided AS d
        GROUP BY
            d.experiment_id, d.organization_id, d.brand_id, d.experiment_name, d.test_variable,
            d.primary_metric, d.days_elapsed
    ),

    arm_updates AS (
        UPDATE genome.experiment_arms AS a
        SET total_impressions = d.impressions,
            total_clicks = d.clicks,
            total_conversions = d.purchases,
            total_spend = round(d.spend, 2),
            ctr = round((d.clicks::numeric / nullif(d.impressions, 0)), 6),
            roas = round(least(d.purchase_value / nullif(d.spend, 0), 9999), 4),
            posterior_mean = round(d.posterior_mean::numeric, 6),
            prob_best = round(d.prob_best::numeric, 4),
            expected_loss = d.expected_loss,
            recommendation = d.recommendation,
            planned_share = pl.planned_share,
            status = CASE WHEN pl.pausing THEN 'paused' ELSE a.status END,
            planned_budget_daily = CASE WHEN pl.pausing THEN 0 ELSE a.planned_budget_daily END,
            paused_at = CASE WHEN pl.pausing THEN p_now ELSE a.paused_at END
        FROM decided AS d
        INNER JOIN plan AS pl ON pl.arm_id = d.arm_id
        WHERE a.id = d.arm_id
        RETURNING a.id
    ),

    pause_events AS (
        INSERT INTO genome.experiment_events (
            experiment_id, arm_index, event_type, source, reason, details, created_at
        )
        SELECT
            p.experiment_id,
            p.arm_index,
            'pause_arm',
            'futility',
            format('futility: P(best) %s is below %s', round(p.prob_best::numeric, 4), v_futility),
            jsonb_build_object('prob_best', p.prob_best, 'analysis_date', v_today),
            p_now
        FROM paused AS p
        RETURNING id
    ),

    history AS (
        INSERT INTO genome.experiment_analyses AS h (
            experiment_id, analysis_date, analyzed_at, arms, decision, srm_p_value
        )
        SELECT r.experiment_id, v_today, p_now, r.arms, r.decision, r.srm_p_value
        FROM experiment_results AS r
        ON CONFLICT (experiment_id, analysis_date) DO UPDATE
        SET analyzed_at = excluded.analyzed_at,
            arms = excluded.arms,
            decision = excluded.decision,
            srm_p_value = excluded.srm_p_value
        RETURNING h.id
    ),

    experiment_updates AS (
        UPDATE genome.experiments AS e
        SET srm_p_value = r.srm_p_value,
            last_analyzed_at = p_now,
            result_summary = jsonb_build_object(
                'analysis_date', v_today,
                'days_elapsed', r.days_elapsed,
                'decision', r.decision,
                'stop_reason', r.stop_reason,
                'verdict_held', r.decision = 'srm_hold',
                'srm_p_value', r.srm_p_value,
                'srm', r.srm,
                'srm_deviation', r.srm_deviation,
                'delivery_imbalance', r.delivery_imbalance,
                'delivery_p_value', r.delivery_p_value,
                'scope', r.scope,
                'paused_arms', to_jsonb(r.paused_arms),
                'arms', r.arms
            ),
            scope = r.scope,
            deployment_plan = CASE WHEN r.paused_arms IS NULL THEN e.deployment_plan
                ELSE genome._experiment_plan_pause(e.deployment_plan, r.paused_arms) END,
            status = CASE WHEN r.decision IN ('winner', 'inconclusive') THEN 'completed' ELSE e.status END,
            verdict = CASE WHEN r.decision IN ('winner', 'inconclusive') THEN r.decision ELSE e.verdict END,
            winning_arm_id = r.winning_arm_id,
            completed_at = CASE WHEN r.decision IN ('winner', 'inconclusive') THEN p_now END
        FROM experiment_results AS r
        WHERE e.id = r.experiment_id
        RETURNING e.id
    ),

    completing AS (
        SELECT
            row_number() OVER (ORDER BY d.rn)::integer AS k,
            d.*
        FROM decided AS d
        INNER JOIN experiment_results AS r ON r.experiment_id = d.experiment_id
        WHERE r.decision IN ('winner', 'inconclusive')
    ),

    estimates AS (
        -- The recorded effect is the data's own: the same Beta-Binomial model under a flat
        -- Beta(1, 1) prior, so the knowledge base holds unshrunk effects with honest
        -- intervals (the sceptical prior serves the stopping decision).
        SELECT
            c.*,
            x.posterior_mean AS flat_mean,
            x.effect_mean AS flat_effect,
            x.effect_lower AS flat_lower,
            x.effect_upper AS flat_upper,
            x.relative_effect AS flat_relative,
            x.relative_lower AS flat_relative_lower,
            x.relative_upper AS flat_relative_upper,
            x.prob_positive AS flat_prob_positive
        FROM (
            SELECT
                array_agg(c0.grp ORDER BY c0.k) AS grps,
                array_agg(c0.arm_index = 0 ORDER BY c0.k) AS controls,
                array_agg(c0.successes::double precision ORDER BY c0.k) AS successes,
                array_agg(c0.trials::double precision ORDER BY c0.k) AS trials,
                array_agg(1.0::double precision ORDER BY c0.k) AS ones,
                array_agg(c0.impressions::double precision ORDER BY c0.k) AS impressions,
                array_agg(c0.planned_share ORDER BY c0.k) AS shares
            FROM completing AS c0
        ) AS arr
        CROSS JOIN LATERAL genome._experiment_posteriors(
            arr.grps, arr.controls, arr.successes, arr.trials, arr.ones, arr.ones, arr.impressions,
            arr.shares, genome._setting_num('experiment_mc_draws')::integer,
            (v_today - DATE '2000-01-01')::bigint
        ) AS x
        INNER JOIN completing AS c ON c.k = x.idx
        WHERE arr.grps IS NOT NULL
    ),

    effects AS (
        -- docs/experiments.md#causal-effects: every completed experiment's effect of each treatment against the control.
        INSERT INTO genome.causal_effects AS ce (
            organization_id, brand_id, experiment_id, test_variable, control_value, treatment_value,
            primary_metric, effect_size, relative_effect, ci_lower, ci_upper, posterior_prob_positive,
            control_n, treatment_n, control_rate, treatment_rate, relative_ci_lower, relative_ci_upper,
            verdict, created_at
        )
        SELECT
            r.organization_id,
            r.brand_id,
            r.experiment_id,
            r.test_variable,
            c.test_variable_value,
            t.test_variable_value,
            r.primary_metric,
            round(t.flat_effect::numeric, 6),
            round(t.flat_relative::numeric, 4),
            round(t.flat_lower::numeric, 6),
            round(t.flat_upper::numeric, 6),
            round(t.flat_prob_positive::numeric, 4),
            c.trials,
            t.trials,
            c.flat_mean,
            t.flat_mean,
            t.flat_relative_lower,
            t.flat_relative_upper,
            r.decision,
            p_now
        FROM experiment_results AS r
        INNER JOIN estimates AS c ON c.experiment_id = r.experiment_id AND c.arm_index = 0
        INNER JOIN estimates AS t ON t.experiment_id = r.experiment_id AND t.arm_index > 0
        -- An ad-level result is the ads' (docs/experiments.md#ad-level), not the element's.
        WHERE r.decision IN ('winner', 'inconclusive') AND r.scope = 'element'
        ON CONFLICT (experiment_id, treatment_value) DO UPDATE
        SET effect_size = excluded.effect_size,
            relative_effect = excluded.relative_effect,
            ci_lower = excluded.ci_lower,
            ci_upper = excluded.ci_upper,
            posterior_prob_positive = excluded.posterior_prob_positive,
            control_n = excluded.control_n,
            treatment_n = excluded.treatment_n,
            control_rate = excluded.control_rate,
            treatment_rate = excluded.treatment_rate,
            relative_ci_lower = excluded.relative_ci_lower,
            relative_ci_upper = excluded.relative_ci_upper,
            verdict = excluded.verdict
        RETURNING ce.id
    ),

    srm_alerts AS (
        -- One open alert per brand and type: a new mismatch joins the open alert's list.
        INSERT INTO genome.system_alerts AS sa (
            organization_id, brand_id, alert_type, severity, title, details, metric_value,
            created_at, updated_at
        )
        SELECT
            r.organization_id,
            r.brand_id,
            'experiment_srm',
            'critical',
            'Sample ratio mismatch in an experiment: its spend does not follow the planned budgets',
            jsonb_build_object(
                'experiments', jsonb_object_agg(r.experiment_id, jsonb_build_object(
                    'name', r.experiment_name,
                    'srm_p_value', r.srm_p_value,
                    'srm_deviation', r.srm_deviation,
                    'decision', r.decision,
                    'verdict_held', r.decision = 'srm_hold',
                    'analysis_date', v_today,
                    'spend', (
                        SELECT jsonb_agg(a.elem -> 'spend' ORDER BY (a.elem ->> 'arm_index')::integer)
                        FROM jsonb_array_elements(r.arms) AS a (elem)
                    ),
                    'impressions', (
                        SELECT jsonb_agg(a.elem -> 'impressions' ORDER BY (a.elem ->> 'arm_index')::integer)
                        FROM jsonb_array_elements(r.arms) AS a (elem)
                    )
                )),
                'action', 'an arm''s spend differs from its planned budget share: check each ad set''s '
                || 'budget, bid, learning phase and review status; the verdict waits until it recovers '
                || 'or max_days, when the experiment ends with the mismatch noted'
            ),
            min(r.srm_p_value),
            p_now,
            p_now
        FROM experiment_results AS r
        WHERE r.srm
        GROUP BY r.organization_id, r.brand_id
        ON CONFLICT (
            organization_id, coalesce(brand_id, '00000000-0000-0000-0000-000000000000'), alert_type
        ) WHERE status IN ('active', 'acknowledged')
        DO UPDATE SET
            details = jsonb_set(
                excluded.details, '{experiments}',
                coalesce(sa.details -> 'experiments', '{}'::jsonb) || (excluded.details -> 'experiments')
            ),
            metric_value = least(sa.metric_value, excluded.metric_value),
            severity = 'critical',
            updated_at = excluded.updated_at
        RETURNING sa.id
    )

    -- Data-modifying CTEs run to completion whether or not the main query reads them.
    SELECT count(*) INTO v_rows FROM experiment_results;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.analyze_experiments(timestamptz) IS
'Daily (job experiment_analysis): for every running experiment (with one control arm 0 and at least one treatment), each arm''s data since the start summed over its ads - impressions, clicks, purchases, spend from meta_ads_performance via meta_ad_mapping (in the experiment''s campaign and the arm''s ad set when recorded, up to the metric''s data_lag_days), else the ads'' matured rewards - and the decision of genome._experiment_decisions (sceptical Beta-Binomial posteriors, P(best) and expected loss from experiment_mc_draws Monte Carlo draws; winner / futility pause / inconclusive at max_days or the planned sample / SRM hold before max_days; docs/experiments.md#stopping-rules). Writes totals, posterior_mean, prob_best, expected_loss and recommendation on the arms, one experiment_analyses row per experiment per day (re-running a day replaces it), the latest result on the experiment (result_summary with srm, delivery_imbalance, scope, paused arms); pauses futile arms in the plan while two arms stay active (status paused, planned_share and planned_budget_daily 0, shares renormalised, the ad set paused in deployment_plan, a pause_arm event with source futility; docs/experiments.md#futility); sets scope (element when every arm has experiment_min_ads_per_arm current ads, else ad_level); on a winner or inconclusive verdict completes the experiment and, when element-scoped, writes a causal_effects row per treatment (effect, relative effect, 95% credible intervals, P(effect > 0), trials per arm) estimated under a flat Beta(1,1) prior, so recorded effects are not shrunk by the decision''s sceptical prior; a sample-ratio mismatch of spend against the planned budget shares (docs/experiments.md#srm) opens or extends the brand''s experiment_srm alert, holding the verdict until max_days. Returns the number of experiments analysed. GN004 bad p_now. Steps: _analyze_experiments_arm_data, _analyze_experiments_decisions.';


-- Step: each arm's data since its experiment started, for the well-formed running experiments.
-- (The earlier results of both steps lacked the arms' plan, ads and SRM columns.)
DROP FUNCTION IF EXISTS genome._analyze_experiments_decisions(timestamptz);
DROP FUNCTION IF EXISTS genome._analyze_experiments_arm_data(timestamptz);

CREATE OR REPLACE FUNCTION genome._analyze_experiments_arm_data(p_now timestamptz)
RETURNS TABLE (
    rn integer,
    grp integer,
    experiment_id uuid,
    organization_id uuid,
    brand_id uuid,
    experiment_name text,
    test_variable text,
    primary_metric text,
    baseline_rate double precision,
    required_trials_per_arm bigint,
    significance_level numeric,
    max_days integer,
    days_elapsed integer,
    spec jsonb,
    arm_id uuid,
    arm_index integer,
    arm_name text,
    test_variable_value text,
    planned_share double precision,
    data_source text,
    impressions bigint,
    clicks bigint,
    purchases bigint,
    spend numeric,
    purchase_value numeric,
    arm_status text,
    planned_budget_daily numeric,
    ads integer,
    trials bigint,
    successes bigint
)
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_today date := (p_now AT TIME ZONE 'UTC')::date;
    v_metrics jsonb := genome._setting('experiment_metrics');
BEGIN
    RETURN QUERY
    WITH running AS (
        SELECT
            e.*,
            v_metrics -> e.primary_metric AS spec,
            v_today - (e.started_at AT TIME ZONE 'UTC')::date AS days_elapsed
        FROM genome.experiments AS e
        WHERE e.status = 'running'
          AND e.started_at <= p_now
          -- Well-formed only: one control (arm 0) and at least one treatment.
          AND (
              SELECT count(*) FILTER (WHERE a.arm_index = 0) = 1 AND count(*) >= 2
              FROM genome.experiment_arms AS a
              WHERE a.experiment_id = e.id
          )
        FOR UPDATE
    ),

    arm_ads AS (
        -- Every ad an arm has had: its first ad and its experiment_arm_ads (replaced ones
        -- too: they showed the arm's value while they ran).
        SELECT a.id AS arm_id, a.generated_ad_id
        FROM running AS e
        INNER JOIN genome.experiment_arms AS a ON a.experiment_id = e.id
        WHERE a.generated_ad_id IS NOT NULL
        UNION
        SELECT a.id, x.generated_ad_id
        FROM running AS e
        INNER JOIN genome.experiment_arms AS a ON a.experiment_id = e.id
        INNER JOIN genome.experiment_arm_ads AS x
            ON x.experiment_id = a.experiment_id AND x.arm_index = a.arm_index
    ),

    perf AS (
        -- Insights of each arm's ads since the start (through meta_ad_mapping, docs/rewards.md#linking-ads-to-meta), in the
        -- experiment's campaign and ad set when known, up to the metric's data lag.
        SELECT
            a.id AS arm_id,
            sum(coalesce(p.impressions, 0))::bigint AS impressions,
            sum(coalesce(p.link_clicks, 0))::bigint AS clicks,
            sum(coalesce(p.purchases, 0))::bigint AS purchases,
            sum(coalesce(p.spend, 0)) AS spend,
            sum(coalesce(p.purchase_value, 0)) AS purchase_value,
            max(p.date) AS last_date
        FROM running AS e
        INNER JOIN genome.experiment_arms AS a ON a.experiment_id = e.id
        INNER JOIN arm_ads AS aa ON aa.arm_id = a.id
        INNER JOIN public.meta_ad_mapping AS m ON m.generated_ad_id = aa.generated_ad_id
        -- Only the mapped ad's brand's insights (docs/security.md#tenant-data).
        INNER JOIN public.meta_ads_performance AS p
            ON p.meta_ad_id = m.meta_ad_id AND p.brand_id = m.brand_id
        WHERE p.date >= (e.started_at AT TIME ZONE 'UTC')::date
          AND p.date <= v_today - (e.spec ->> 'data_lag_days')::integer
          AND (e.meta_campaign_id IS NULL OR p.meta_campaign_id = e.meta_campaign_id)
          AND (a.meta_adset_id IS NULL OR p.meta_adset_id = a.meta_adset_id)
        GROUP BY a.id
    ),

    matured AS (
        -- The matured rewards of each arm's ads (the fallback without insights).
        SELECT
            aa.arm_id,
            sum(r.total_impressions)::bigint AS impressions,
            sum(r.total_clicks)::bigint AS clicks,
            sum(r.total_purchases)::bigint AS purchases,
            sum(r.total_spend)::numeric AS spend,
            sum(r.total_purchase_value)::numeric AS purchase_value
        FROM arm_ads AS aa
        INNER JOIN genome.creative_element_rewards AS r ON r.generated_ad_id = aa.generated_ad_id
        WHERE r.matured_at <= p_now
        GROUP BY aa.arm_id
    ),

    arm_data AS (
        -- Without insights of their own, an arm's ads fall back to their matured rewards.
        SELECT
            row_number() OVER (ORDER BY e.id, a.arm_index)::integer AS rn,
            dense_rank() OVER (ORDER BY e.id)::integer AS grp,
            e.id AS experiment_id,
            e.organization_id,
            e.brand_id,
            e.name AS experiment_name,
            e.test_variable,
            e.primary_metric,
            -- Experiments made without propose_experiment may lack the plan: the metric's
            -- default baseline, and no planned sample (flat prior, no sample-based end).
            coalesce(e.baseline_rate, (e.spec ->> 'default_baseline')::double precision) AS baseline_rate,
            e.required_trials_per_arm,
            e.significance_level,
            e.max_days,
            e.days_elapsed,
            e.spec,
            a.id AS arm_id,
            a.arm_index,
            a.arm_name,
            a.test_variable_value,
            a.planned_share,
            CASE WHEN p.arm_id IS NOT NULL THEN 'performance'
                 WHEN r.arm_id IS NOT NULL THEN 'rewards' ELSE 'none' END AS data_source,
            coalesce(p.impressions, r.impressions, 0) AS impressions,
            coalesce(p.clicks, r.clicks, 0) AS clicks,
            coalesce(p.purchases, r.purchases, 0) AS purchases,
            coalesce(p.spend, r.spend, 0) AS spend,
            coalesce(p.purchase_value, r.purchase_value, 0) AS purchase_value,
            a.status AS arm_status,
            a.planned_budget_daily::numeric AS planned_budget_daily,
            -- The arm's current creatives (docs/experiments.md#ad-level): its active
            -- experiment_arm_ads, or its one ad for an experiment made without them.
            coalesce(
                (
                    SELECT count(*) FILTER (WHERE x.status = 'active')
                    FROM genome.experiment_arm_ads AS x
                    WHERE x.experiment_id = a.experiment_id AND x.arm_index = a.arm_index
                    HAVING count(*) > 0
                ),
                (a.generated_ad_id IS NOT NULL)::integer
            )::integer AS ads
        FROM running AS e
        INNER JOIN genome.experiment_arms AS a ON a.experiment_id = e.id
        LEFT JOIN perf AS p ON p.arm_id = a.id
        LEFT JOIN matured AS r ON p.arm_id IS NULL AND r.arm_id = a.id
    )

    SELECT
        d.*,
        CASE d.spec ->> 'trials' WHEN 'impressions' THEN d.impressions ELSE d.clicks END AS trials,
        CASE d.spec ->> 'successes' WHEN 'clicks' THEN d.clicks ELSE d.purchases END AS successes
    FROM arm_data AS d;
END
$$;
COMMENT ON FUNCTION genome._analyze_experiments_arm_data(timestamptz) IS
'Internal step of analyze_experiments: locks the running experiments started by p_now that have one control (arm 0) and at least one treatment, and returns one row per arm numbered in (experiment, arm) order (rn, grp): the experiment''s plan (baseline_rate, else the metric''s default_baseline in setting experiment_metrics; required trials, significance level, max_days, days elapsed), the arm''s plan (status, planned_share, planned_budget_daily) and number of current ads (ads), the impressions, clicks, purchases, spend and purchase value of all its ads (its first ad and experiment_arm_ads, replaced ones included) from meta_ads_performance via meta_ad_mapping since the start (in the experiment''s campaign and the arm''s ad set when recorded, up to the metric''s data_lag_days), else their matured rewards (data_source performance / rewards / none), and the trials and successes the primary metric counts.';


-- Step: the stopping decision and posteriors of every arm (genome._experiment_decisions).
CREATE OR REPLACE FUNCTION genome._analyze_experiments_decisions(p_now timestamptz)
RETURNS TABLE (
    rn integer,
    grp integer,
    experiment_id uuid,
    organization_id uuid,
    brand_id uuid,
    experiment_name text,
    test_variable text,
    primary_metric text,
    baseline_rate double precision,
    required_trials_per_arm bigint,
    significance_level numeric,
    max_days integer,
    days_elapsed integer,
    spec jsonb,
    arm_id uuid,
    arm_index integer,
    arm_name text,
    test_variable_value text,
    planned_share double precision,
    data_source text,
    impressions bigint,
    clicks bigint,
    purchases bigint,
    spend numeric,
    purchase_value numeric,
    arm_status text,
    planned_budget_daily numeric,
    ads integer,
    trials bigint,
    successes bigint,
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
    best_arm integer,
    decision text,
    stop_reason text,
    recommendation text,
    srm boolean,
    srm_deviation double precision,
    delivery_p_value double precision,
    delivery_imbalance boolean
)
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_today date := (p_now AT TIME ZONE 'UTC')::date;
BEGIN
    RETURN QUERY
    WITH counted AS (
        SELECT * FROM genome._analyze_experiments_arm_data(p_now)
    )

    SELECT
        c.*,
        x.posterior_mean,
        x.prob_best,
        x.expected_loss,
        x.effect_mean,
        x.effect_lower,
        x.effect_upper,
        x.relative_effect,
        x.relative_lower,
        x.relative_upper,
        x.prob_positive,
        x.srm_p_value,
        x.best_arm,
        x.decision,
        x.stop_reason,
        x.recommendation,
        x.srm,
        x.srm_deviation,
        x.delivery_p_value,
        x.delivery_imbalance
    FROM (
        SELECT
            array_agg(c0.grp ORDER BY c0.rn) AS grps,
            array_agg(c0.arm_index ORDER BY c0.rn) AS arms,
            array_agg(c0.impressions ORDER BY c0.rn) AS impressions,
            array_agg(c0.trials ORDER BY c0.rn) AS trials,
            array_agg(c0.successes ORDER BY c0.rn) AS successes,
            array_agg(c0.planned_share ORDER BY c0.rn) AS shares,
            array_agg(c0.baseline_rate ORDER BY c0.rn) AS baselines,
            array_agg(c0.required_trials_per_arm::double precision ORDER BY c0.rn) AS planned,
            array_agg(c0.significance_level::double precision ORDER BY c0.rn) AS significance,
            array_agg(c0.days_elapsed >= c0.max_days ORDER BY c0.rn) AS final,
            array_agg(c0.spend::double precision ORDER BY c0.rn) AS spend
        FROM counted AS c0
    ) AS arr
    CROSS JOIN LATERAL genome._experiment_decisions(
        arr.grps, arr.arms, arr.impressions, arr.trials, arr.successes, arr.shares, arr.baselines,
        arr.planned, arr.significance, arr.final, (v_today - DATE '2000-01-01')::bigint, arr.spend
    ) AS x
    INNER JOIN counted AS c ON c.rn = x.idx
    WHERE arr.grps IS NOT NULL;
END
$$;
COMMENT ON FUNCTION genome._analyze_experiments_decisions(timestamptz) IS
'Internal step of analyze_experiments: every arm of _analyze_experiments_arm_data with the decision of genome._experiment_decisions over all running experiments at once (sceptical Beta-Binomial posteriors, P(best), expected loss, effect against the control and its intervals; sample-ratio mismatch of the arms'' spend against their planned shares and the delivery imbalance of their impressions; winner / futility pause / inconclusive at max_days or the planned sample / SRM hold before max_days), its Monte Carlo draws seeded by the UTC day of p_now so a day''s re-run gives the same decisions.';
