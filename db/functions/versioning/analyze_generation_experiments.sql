-- Generation A/B tests (docs/monitoring.md#generation-ab-tests): weekly comparison of the arms.

-- One piece on purpose: one statement whose named CTEs are the stages (active experiments,
-- their arms' ads, per-arm samples, the two Mann-Whitney tests, the deciding metric, the
-- verdict), ending in the experiments' update and the day's analysis row, both written from
-- the same verdicts; as separate functions the verdicts would be materialized and re-joined.
CREATE OR REPLACE FUNCTION genome.analyze_generation_experiments(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_alpha double precision := genome._setting_num('generation_experiment_alpha');
    v_max_days double precision := genome._setting_num('generation_experiment_max_days');
    v_metrics jsonb := genome._setting('generation_experiment_decision_metric');
    v_rows integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF v_alpha IS NULL OR NOT (v_alpha > 0 AND v_alpha < 1) OR v_max_days IS NULL OR v_max_days < 1
       OR jsonb_typeof(v_metrics) <> 'object'
       OR EXISTS (
           SELECT 1 FROM jsonb_each_text(v_metrics) AS m WHERE m.value NOT IN ('reward', 'approval_rate')
       ) THEN
        RAISE EXCEPTION 'generation experiment settings out of range: alpha % (0..1 exclusive), max_days % (>= 1), decision metrics % (reward | approval_rate per type)',
            v_alpha, v_max_days, v_metrics
            USING ERRCODE = 'GN090';
    END IF;

    WITH active AS (
        SELECT e.*
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

    samples AS (
        SELECT
            a.id AS experiment_id,
            coalesce(a.created_at + make_interval(days => v_max_days::integer) <= p_now, false) AS expired,
            coalesce(v_metrics ->> a.experiment_type, 'reward') AS decision_metric,
            a.min_sample_size,
            count(DISTINCT x.run_id) FILTER (WHERE x.arm = 'control') AS runs_c,
            count(DISTINCT x.run_id) FILTER (WHERE x.arm = 'variant') AS runs_v,
            coalesce(array_agg(x.approved) FILTER (WHERE x.arm = 'control' AND x.approved IS NOT NULL), '{}') AS appr_c,
            coalesce(array_agg(x.approved) FILTER (WHERE x.arm = 'variant' AND x.approved IS NOT NULL), '{}') AS appr_v,
            coalesce(array_agg(x.reward) FILTER (WHERE x.arm = 'control' AND x.reward IS NOT NULL), '{}') AS rew_c,
            coalesce(array_agg(x.reward) FILTER (WHERE x.arm = 'variant' AND x.reward IS NOT NULL), '{}') AS rew_v
        FROM active AS a
        LEFT JOIN arm_ads AS x ON x.experiment_id = a.id
        GROUP BY a.id, a.created_at, a.experiment_type, a.min_sample_size
    ),

    tested AS (
        SELECT
            s.*,
            ta.n_x AS appr_n_v,
            ta.n_y AS appr_n_c,
            ta.u_x AS appr_u_v,
            ta.u_y AS appr_u_c,
            ta.z AS appr_z,
            ta.p_value AS appr_p,
            tr.n_x AS rew_n_v,
            tr.n_y AS rew_n_c,
            tr.u_x AS rew_u_v,
            tr.u_y AS rew_u_c,
            tr.z AS rew_z,
            tr.p_value AS rew_p
        FROM samples AS s
        CROSS JOIN LATERAL genome._mann_whitney_u(s.appr_v, s.appr_c) AS ta
        CROSS JOIN LATERAL genome._mann_whitney_u(s.rew_v, s.rew_c) AS tr
    ),

    decided AS (
        SELECT
            t.*,
            CASE WHEN t.decision_metric = 'reward' THEN t.rew_n_c ELSE t.appr_n_c END AS dn_c,
            CASE WHEN t.decision_metric = 'reward' THEN t.rew_n_v ELSE t.appr_n_v END AS dn_v,
            CASE WHEN t.decision_metric = 'reward' THEN t.rew_p ELSE t.appr_p END AS dp,
            CASE WHEN t.decision_metric = 'reward' THEN t.rew_u_v - t.rew_u_c ELSE t.appr_u_v - t.appr_u_c END AS du
        FROM tested AS t
    ),

    verdicts AS (
        SELECT
            d.*,
            CASE
                WHEN d.dn_c >= d.min_sample_size AND d.dn_v >= d.min_sample_size AND d.dp < v_alpha
                    THEN CASE WHEN d.du > 0 THEN 'variant' ELSE 'control' END
                WHEN d.expired THEN 'none'
                ELSE 'continue'
            END AS decision,
            jsonb_build_object(
                'decision_metric', d.decision_metric,
                'alpha', v_alpha,
                'min_sample_size', d.min_sample_size,
                'approval_rate', jsonb_build_object(
                    'n_control', d.appr_n_c, 'n_variant', d.appr_n_v, 'u_control', d.appr_u_c,
                    'u_variant', d.appr_u_v, 'z', d.appr_z, 'p_value', d.appr_p
                ),
                'reward', jsonb_build_object(
                    'n_control', d.rew_n_c, 'n_variant', d.rew_n_v, 'u_control', d.rew_u_c,
                    'u_variant', d.rew_u_v, 'z', d.rew_z, 'p_value', d.rew_p
                ),
                'test', 'Mann-Whitney U, two-sided, tie-corrected normal approximation with continuity correction'
            ) AS tests
        FROM decided AS d
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
'Weekly (job genome_validation): for every active generation experiment, compares the arms on approval (reviewed ads: approved 1, rejected/flagged 0) and on matured reward with a two-sided Mann-Whitney U test (genome._mann_whitney_u), records per-arm metrics, confidence = 1 - p of the deciding metric (generation_experiment_decision_metric by experiment type) and a row in genome.generation_experiment_analyses. A winner (the arm with the larger U) is declared, and the experiment completed at p_now, only when both arms have min_sample_size observations of the deciding metric and p < generation_experiment_alpha; after generation_experiment_max_days without one it completes with winner none. Returns the number of experiments analysed. GN004 bad p_now, GN090 settings out of range.';
