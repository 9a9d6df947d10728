-- docs/experiments.md#changing-a-running-experiment: a person pauses an arm; the plan follows.

CREATE OR REPLACE FUNCTION genome.pause_experiment_arm(
    p_experiment_id uuid,
    p_arm_index integer,
    p_reason text,
    p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_exp genome.experiments;
    v_arm genome.experiment_arms;
    v_reason text;
    v_left integer;
BEGIN
    PERFORM genome._require_now(p_now);
    v_exp := genome._require_experiment(p_experiment_id, ARRAY['deploying', 'running'], 'have an arm paused');
    v_arm := genome._require_experiment_arm(p_experiment_id, p_arm_index);
    v_reason := genome._require_reason(p_reason, 'pause an experiment arm');
    SELECT count(*) INTO v_left
    FROM genome.experiment_arms AS a
    WHERE a.experiment_id = p_experiment_id AND a.status = 'active' AND a.arm_index <> p_arm_index;
    IF v_arm.status <> 'active' OR v_left < 2 THEN
        RAISE EXCEPTION 'arm % of experiment % cannot be paused: %', p_arm_index, p_experiment_id,
            CASE WHEN v_arm.status <> 'active' THEN 'it is already paused'
                 ELSE format('only %s active arm(s) would remain', v_left) END
            USING ERRCODE = 'GN614',
                  HINT = 'an experiment compares at least two active arms; cancel it instead (genome.cancel_experiment)';
    END IF;
    -- The plan follows the pause (docs/experiments.md#srm): the arm's budget and share go to
    -- 0 and the active arms' shares are renormalised, so its stopped delivery is no mismatch.
    UPDATE genome.experiment_arms
    SET status = 'paused', planned_share = 0, planned_budget_daily = 0, paused_at = p_now
    WHERE id = v_arm.id;
    UPDATE genome.experiment_arms AS a
    SET planned_share = a.planned_share / t.total
    FROM (
        SELECT sum(x.planned_share) AS total
        FROM genome.experiment_arms AS x
        WHERE x.experiment_id = p_experiment_id AND x.status = 'active'
    ) AS t
    WHERE a.experiment_id = p_experiment_id AND a.status = 'active' AND t.total > 0;
    UPDATE genome.experiments
    SET deployment_plan = genome._experiment_plan_pause(deployment_plan, ARRAY[p_arm_index])
    WHERE id = p_experiment_id;
    INSERT INTO genome.experiment_events (
        experiment_id, arm_index, event_type, source, reason, details, created_at
    )
    VALUES (
        p_experiment_id, p_arm_index, 'pause_arm', 'person', v_reason,
        jsonb_build_object(
            'planned_share_before', v_arm.planned_share,
            'planned_budget_daily_before', v_arm.planned_budget_daily
        ),
        p_now
    );
    RETURN v_arm.id;
END
$$;
COMMENT ON FUNCTION genome.pause_experiment_arm(uuid, integer, text, timestamptz) IS
'docs/experiments.md#changing-a-running-experiment: pauses arm p_arm_index of a deploying or running experiment for the reason given and changes the plan with it: the arm''s status paused, planned_share and planned_budget_daily 0, the other active arms'' shares renormalised, its ad set paused in deployment_plan (campaign budget reduced), and a pause_arm row in genome.experiment_events. Its data so far still counts; SRM compares only the active arms, so its stopped delivery is no mismatch. Returns the arm id. GN005 NULL experiment; GN600 unknown experiment; GN611 not deploying or running; GN613 no such arm; GN614 already paused or fewer than two active arms would remain; GN612 no reason; GN004 bad p_now.';
