-- docs/experiments.md#changing-a-running-experiment: a person stops an experiment for good.

CREATE OR REPLACE FUNCTION genome.cancel_experiment(
    p_experiment_id uuid,
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
    v_reason text;
BEGIN
    PERFORM genome._require_now(p_now);
    v_exp := genome._require_experiment(
        p_experiment_id, ARRAY['draft', 'deploying', 'running', 'analyzing'], 'be cancelled'
    );
    v_reason := genome._require_reason(p_reason, 'cancel an experiment');
    UPDATE genome.experiments
    SET status = 'cancelled', verdict = 'cancelled', cancelled_at = p_now, cancel_reason = v_reason,
        winning_arm_id = NULL
    WHERE id = p_experiment_id;
    INSERT INTO genome.experiment_events (experiment_id, event_type, source, reason, details, created_at)
    VALUES (
        p_experiment_id, 'cancel', 'person', v_reason,
        jsonb_build_object('previous_status', v_exp.status, 'last_analyzed_at', v_exp.last_analyzed_at),
        p_now
    );
    RETURN p_experiment_id;
END
$$;
COMMENT ON FUNCTION genome.cancel_experiment(uuid, text, timestamptz) IS
'docs/experiments.md#changing-a-running-experiment: cancels a draft, deploying or running experiment for the reason given: status and verdict cancelled, cancelled_at and cancel_reason set, a cancel row in genome.experiment_events (with the status it had). It is no longer analysed and writes no causal_effects; its arms, analyses and history stay. The app stops its campaign. GN005 NULL experiment; GN600 unknown experiment (or another organization''s); GN611 already completed or cancelled; GN612 no reason; GN004 bad p_now.';
