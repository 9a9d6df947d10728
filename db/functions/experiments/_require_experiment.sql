-- Shared checks of the functions that change an experiment (docs/errors.md#experiments-and-evolution).

CREATE OR REPLACE FUNCTION genome._require_experiment(
    p_experiment_id uuid,
    p_states text [] DEFAULT NULL,
    p_action text DEFAULT NULL
)
RETURNS genome.experiments
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_exp genome.experiments;
BEGIN
    PERFORM genome._require_not_null(p_experiment_id, 'experiment_id');
    -- As the caller: under row-level security another organization's experiment is unknown.
    SELECT e.* INTO v_exp FROM genome.experiments AS e WHERE e.id = p_experiment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown experiment %', p_experiment_id USING ERRCODE = 'GN600';
    END IF;
    IF p_states IS NOT NULL AND NOT v_exp.status = ANY (p_states) THEN
        RAISE EXCEPTION 'experiment % is %: only a % experiment can %', p_experiment_id, v_exp.status,
            array_to_string(p_states, ' or '), p_action
            USING ERRCODE = 'GN611',
                  HINT = 'a completed or cancelled experiment is final; genome.experiment_events has its history';
    END IF;
    RETURN v_exp;
END
$$;
COMMENT ON FUNCTION genome._require_experiment(uuid, text [], text) IS
'Internal: the experiment row, locked for update. GN005 NULL id; GN600 unknown experiment (or, under row-level security, another organization''s); GN611 when its status is not one of p_states (p_action names what was refused). See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_reason(p_reason text, p_action text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION 'a reason is required to %', p_action USING ERRCODE = 'GN612',
            HINT = 'the reason is kept in the experiment''s history (genome.experiment_events)';
    END IF;
    PERFORM genome._check_payload_size(p_reason, 'reason');
    RETURN btrim(p_reason);
END
$$;
COMMENT ON FUNCTION genome._require_reason(text, text) IS
'Internal: the trimmed reason for a change to an experiment. GN612 when NULL or blank; the payload size limit of _check_payload_size. See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_experiment_arm(p_experiment_id uuid, p_arm_index integer)
RETURNS genome.experiment_arms
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_arm genome.experiment_arms;
BEGIN
    SELECT a.* INTO v_arm
    FROM genome.experiment_arms AS a
    WHERE a.experiment_id = p_experiment_id AND a.arm_index = p_arm_index
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment % has no arm %', p_experiment_id, coalesce(p_arm_index::text, 'NULL')
            USING ERRCODE = 'GN613',
                  HINT = 'arms are numbered from 0 (the control): genome.experiment_arms.arm_index';
    END IF;
    RETURN v_arm;
END
$$;
COMMENT ON FUNCTION genome._require_experiment_arm(uuid, integer) IS
'Internal: the arm p_arm_index (0 = control) of the experiment, locked for update. GN613 when the experiment has no such arm. See docs/errors.md.';
