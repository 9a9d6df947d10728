-- Generation A/B tests (docs/experiments.md#generation-ab-tests): weekly comparison of the arms.

-- One piece on purpose: one statement whose named CTEs are the stages (active experiments
-- with the alpha their earlier looks spent, their arms' ads, per-run means, per-arm samples,
-- the looks and ad-level tests, the verdict), ending in the experiments' update and the
-- day's analysis row, both written from the same verdicts; as separate functions the verdicts
-- would be materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.analyze_generation_experiments(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_alpha double precision := genome._setting_num('generation_experiment_alpha');
    v_max_days double precision := genome._setting_num('generation_experiment_max_days');
    v_rho double precision := genome._setting_num('generation_experiment_spending_rho');
    v_min_runs double precision := genome._setting_num('generation_experiment_min_runs');
    v_metrics jsonb := genome._setting('generation_experiment_decision_metric');
    v_rows integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF v_alpha IS NULL OR NOT (v_alpha > 0 AND v_alpha < 1) OR v_max_days IS NULL OR v_max_days < 1
       OR v_rho IS NULL OR NOT (v_rho > 0) OR v_min_runs IS NULL OR v_min_runs < 2
       OR jsonb_typeof(v_metrics) <> 'object'
       OR EXISTS (
           SELECT 1 FROM jsonb_each_text(v_metrics) AS m WHERE m.value NOT IN ('reward', 'approval_rate')
       ) THEN
        RAISE EXCEPTION 'generation experiment settings out of range: alpha % (0..1 exclusive), max_days % (>= 1), spending_rho % (> 0), min_runs % (>= 2), decision metrics % (reward | approval_rate per type)',
            v_alpha, v_max_days, v_rho, v_min_runs, v_metrics
            USING ERRCODE = 'GN090';
    END IF;

    WITH active AS (
        SELECT
            e.*,
            -- The alpha already spent at the experiment's earlier looks (days before today's).
            coalesce((
                SELECT (h.tests ->> 'alpha_spent')::double precision
                FROM genome.generation_experiment_analyses AS h
                WHERE h.experiment_id = e.id AND h.analysis_date < (p_now AT TIME ZONE 'UTC')::date
                ORDER BY h.analysis_date DESC
                LIMIT 1
            ), 0) AS spent_before,
            least(1.0, extract(EPOCH FROM p_now - e.created_at)::double precision / 86400.0 / v_max_days)
                AS fraction
        FROM genome.generation_experiments AS e
        WHERE e.status = 'active' AND e.created_at <= p_now
    ),

    arm_ads AS (
        -- Ads of the runs assigned to each arm, with their review outcome and matured reward
        -- as known at p_now.
        SELECT
            r.experiment_id,
            r.experiment_group AS arm,
            r.id AS run_id,
            CASE
                WHEN g.final_status IN ('approved', 'rejected', 'flagged') AND g.decided_at <= p_now
                    THEN (g.final_status = 'approved')::integer::double precision
            END AS approved,
            CASE WHEN rw.matured_at <= p_now THEN rw.reward_score END AS reward
        FROM public.ad_runs AS r
        INNER JOIN active AS a ON a.id = r.experiment_id
        LEFT JOIN public.generated_ads AS g ON g.ad_run_id = r.id
        LEFT JOIN genome.creative_element_rewards AS rw ON rw.generated_ad_id = g.id
        WHERE r.experiment_group IN ('control', 'variant')
    ),

    run_means AS (
        -- The units of the test: one mean per run and metric (NULL when the run has none yet).
        SELECT
            x.experiment_id,
            x.arm,
            x.run_id,
            avg(x.approved) AS approval_rate,
            avg(x.reward) AS reward
        FROM arm_ads AS x
        GROUP BY x.experiment_id, x.arm, x.run_id
    ),

    run_arrays AS (
        SELECT
            m.experiment_id,
            count(*) FILTER (WHERE m.arm = 'control') AS runs_c,
            count(*) FILTER (WHERE m.arm = 'variant') AS runs_v,
            coalesce(array_agg(m.approval_rate ORDER BY m.run_id)
                FILTER (WHERE m.arm = 'control' AND m.approval_rate IS NOT NULL), '{}') AS run_appr_c,
            coalesce(array_agg(m.approval_rate ORDER BY m.run_id)
                FILTER (WHERE m.arm = 'variant' AND m.approval_rate IS NOT NULL), '{}') AS run_appr_v,
            coalesce(array_agg(m.reward ORDER BY m.run_id)
                FILTER (WHERE m.arm = 'control' AND m.reward IS NOT NULL), '{}') AS run_rew_c,
            coalesce(array_agg(m.reward ORDER BY m.run_id)
                FILTER (WHERE m.arm = 'variant' AND m.reward IS NOT NULL), '{}') AS run_rew_v
        FROM run_means AS m
        GROUP BY m.experiment_id
    ),

    samples AS (
        SELECT
            a.id AS experiment_id,
            a.spent_before,
            a.fraction,
            a.fraction >= 1.0 AS expired,
            coalesce(v_metrics ->> a.experiment_type, 'reward') AS decision_metric,
            a.min_sample_size,
            coalesce(max(ra.runs_c), 0) AS runs_c,
            coalesce(max(ra.runs_v), 0) AS runs_v,
            coalesce(array_agg(x.approved) FILTER (WHERE x.arm = 'control' AND x.approved IS NOT NULL), '{}') AS appr_c,
            coalesce(array_agg(x.approved) FILTER (WHERE x.arm = 'variant' AND x.approved IS NOT NULL), '{}') AS appr_v,
            coalesce(array_agg(x.reward) FILTER (WHERE x.arm = 'control' AND x.reward IS NOT NULL), '{}') AS rew_c,
            coalesce(array_agg(x.reward) FILTER (WHERE x.arm = 'variant' AND x.reward IS NOT NULL), '{}') AS rew_v,
            coalesce(min(ra.run_appr_c), '{}') AS run_appr_c,
            coalesce(min(ra.run_appr_v), '{}') AS run_appr_v,
            coalesce(min(ra.run_rew_c), '{}') AS run_rew_c,
            coalesce(min(ra.run_rew_v), '{}') AS run_rew_v
        FROM active AS a
        LEFT JOIN arm_ads AS x ON x.experiment_id = a.id
        LEFT JOIN run_arrays AS ra ON ra.experiment_id = a.id
        GROUP BY a.id, a.spent_before, a.fraction, a.experiment_type, a.min_sample_size
    ),

    tested AS (
        -- Both metrics are tested the same way; only the deciding metric's look decides.
        SELECT
            s.*,
            ra.n_variant AS appr_runs_v,
            ra.n_control AS appr_runs_c,
            ra.mean_variant AS appr_mean_v,
            ra.mean_control AS appr_mean_c,
            ra.t AS appr_t,
            ra.df AS appr_df,
            ra.p_value AS appr_p,
            rr.n_variant AS rew_runs_v,
            rr.n_control AS rew_runs_c,
            rr.mean_variant AS rew_mean_v,
            rr.mean_control AS rew_mean_c,
            rr.t AS rew_t,
            rr.df AS rew_df,
            rr.p_value AS rew_p,
            CASE WHEN s.decision_metric = 'reward' THEN rr.p_value ELSE ra.p_value END AS dp,
            CASE WHEN s.decision_metric = 'reward' THEN rr.tested ELSE ra.tested END AS tests_now,
            CASE WHEN s.decision_metric = 'reward' THEN rr.level ELSE ra.level END AS level,
            CASE WHEN s.decision_metric = 'reward' THEN rr.alpha_spent ELSE ra.alpha_spent END AS alpha_spent,
            CASE WHEN s.decision_metric = 'reward' THEN rr.winner ELSE ra.winner END AS winner,
            ta.z AS appr_ad_z,
            ta.p_value AS appr_ad_p,
            tr.z AS rew_ad_z,
            tr.p_value AS rew_ad_p
        FROM samples AS s
        CROSS JOIN LATERAL genome._generation_look(
            s.run_appr_v, s.run_appr_c, cardinality(s.appr_v), cardinality(s.appr_c),
            s.min_sample_size, v_min_runs, s.fraction, s.spent_before, v_alpha, v_rho
        ) AS ra
        CROSS JOIN LATERAL genome._generation_look(
            s.run_rew_v, s.run_rew_c, cardinality(s.rew_v), cardinality(s.rew_c),
            s.min_sample_size, v_min_runs, s.fraction, s.spent_before, v_alpha, v_rho
        ) AS rr
        CROSS JOIN LATERAL genome._mann_whitney_u(s.appr_v, s.appr_c) AS ta
        CROSS JOIN LATERAL genome._mann_whitney_u(s.rew_v, s.rew_c) AS tr
    ),

    verdicts AS (
        SELECT
            l.*,
            coalesce(l.winner, CASE WHEN l.expired THEN 'none' ELSE 'continue' END) AS decision,
            jsonb_build_object(
                'decision_metric', l.decision_metric,
                'alpha', v_alpha,
                'spending_rho', v_rho,
                'information_fraction', l.fraction,
                'tested', l.tests_now,
                'level', l.level,
                'alpha_spent', l.alpha_spent,
                'min_sample_size', l.min_sample_size,
                'min_runs', v_min_runs,
                'approval_rate', jsonb_build_object(
                    'runs_control', l.appr_runs_c, 'runs_variant', l.appr_runs_v,
                    'n_control', cardinality(l.appr_c), 'n_variant', cardinality(l.appr_v),
                    'mean_control', l.appr_mean_c, 'mean_variant', l.appr_mean_v,
                    't', l.appr_t, 'df', l.appr_df, 'p_value', l.appr_p,
                    'ad_level_z', l.appr_ad_z, 'ad_level_p_value', l.appr_ad_p
                ),
                'reward', jsonb_build_object(
                    'runs_control', l.rew_runs_c, 'runs_variant', l.rew_runs_v,
                    'n_control', cardinality(l.rew_c), 'n_variant', cardinality(l.rew_v),
                    'mean_control', l.rew_mean_c, 'mean_variant', l.rew_mean_v,
                    't', l.rew_t, 'df', l.rew_df, 'p_value', l.rew_p,
                    'ad_level_z', l.rew_ad_z, 'ad_level_p_value', l.rew_ad_p
                ),
                'test', 'Welch t on per-run means (runs are the units), two-sided, at this look''s alpha-spending level; ad_level_*: Mann-Whitney U with ads as independent, descriptive only'
            ) AS tests
        FROM tested AS l
    ),

    updated AS (
        UPDATE genome.generation_experiments AS e
        SET control_metrics = jsonb_build_object(
                'runs', v.runs_c,
                'decided_ads', cardinality(v.appr_c),
                'approved_ads', (SELECT coalesce(sum(x), 0) FROM unnest(v.appr_c) AS x),
                'approval_rate', (SELECT avg(x) FROM unnest(v.appr_c) AS x),
                'matured_rewards', cardinality(v.rew_c),
                'mean_reward', (SELECT avg(x) FROM unnest(v.rew_c) AS x),
                'median_reward', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(v.rew_c) AS x),
                'analyzed_at', p_now
            ),
            variant_metrics = jsonb_build_object(
                'runs', v.runs_v,
                'decided_ads', cardinality(v.appr_v),
                'approved_ads', (SELECT coalesce(sum(x), 0) FROM unnest(v.appr_v) AS x),
                'approval_rate', (SELECT avg(x) FROM unnest(v.appr_v) AS x),
                'matured_rewards', cardinality(v.rew_v),
                'mean_reward', (SELECT avg(x) FROM unnest(v.rew_v) AS x),
                'median_reward', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(v.rew_v) AS x),
                'analyzed_at', p_now
            ),
            confidence = CASE WHEN v.dp IS NOT NULL THEN round((1 - v.dp)::numeric, 3) END,
            winner = CASE WHEN v.decision IN ('control', 'variant', 'none') THEN v.decision END,
            status = CASE WHEN v.decision = 'continue' THEN e.status ELSE 'completed' END,
            completed_at = CASE WHEN v.decision = 'continue' THEN NULL ELSE p_now END
        FROM verdicts AS v
        WHERE e.id = v.experiment_id
        RETURNING e.id
    )

    INSERT INTO genome.generation_experiment_analyses AS h (
        experiment_id, analysis_date, analyzed_at, decision_metric, tests, decision
    )
    SELECT
        v.experiment_id,
        (p_now AT TIME ZONE 'UTC')::date,
        p_now,
        v.decision_metric,
        v.tests,
        v.decision
    FROM verdicts AS v
    ON CONFLICT (experiment_id, analysis_date) DO UPDATE SET
        analyzed_at = excluded.analyzed_at,
        decision_metric = excluded.decision_metric,
        tests = excluded.tests,
        decision = excluded.decision;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.analyze_generation_experiments(timestamptz) IS
'Weekly (job genome_validation), one look per day (a re-run the same day replaces that day''s look): for every active generation experiment, compares the arms on approval (reviewed ads: approved 1, rejected/flagged 0) and on matured reward with the ad runs as the units: Welch''s t test on per-run means (genome._generation_look); the ad-level Mann-Whitney U is kept as descriptive only. Records per-arm metrics, confidence = 1 - p of the deciding metric (generation_experiment_decision_metric by experiment type) and a row in genome.generation_experiment_analyses with the alpha spent so far. A look tests when both arms have min_sample_size ads and generation_experiment_min_runs runs with the deciding metric; it may use the alpha-spending level alpha * t^rho (t = days elapsed / generation_experiment_max_days; generation_experiment_spending_rho) less what earlier tested looks used, so the false-positive rate over all looks stays at most generation_experiment_alpha (docs/experiments.md#generation-ab-tests). A winner (the arm with the higher mean) is declared, and the experiment completed at p_now, when the look''s p is below its level; after generation_experiment_max_days without one it completes with winner none. Returns the number of experiments analysed. GN004 bad p_now, GN090 settings out of range.';
