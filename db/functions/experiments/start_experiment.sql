-- The app has deployed a proposed experiment to Meta: from now on it is analysed daily.

CREATE OR REPLACE FUNCTION genome.start_experiment(
    p_experiment_id uuid,
    p_meta_campaign_id text DEFAULT NULL,
    p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_exp genome.experiments;
BEGIN
    PERFORM genome._require_now(p_now);
    v_exp := genome._require_experiment(p_experiment_id);
    IF v_exp.status <> 'deploying' THEN
        RAISE EXCEPTION 'experiment % is %, only a deploying experiment can start', p_experiment_id,
            CASE WHEN v_exp.over_budget THEN 'an over-budget draft' ELSE v_exp.status END
            USING ERRCODE = 'GN610',
                  HINT = CASE WHEN v_exp.over_budget
                      THEN 'propose it again with a budget that covers its required spend'
                      ELSE 'experiments start once, after propose_experiment' END;
    END IF;
    UPDATE genome.experiments
    SET status = 'running', started_at = p_now, meta_campaign_id = coalesce(p_meta_campaign_id, meta_campaign_id)
    WHERE id = p_experiment_id;
    RETURN p_experiment_id;
END
$$;
COMMENT ON FUNCTION genome.start_experiment(uuid, text, timestamptz) IS
'Marks a deploying experiment as running from p_now (the app has created its campaign; p_meta_campaign_id, when given, restricts its analysis to that campaign''s insights). GN005 NULL experiment; GN600 unknown experiment; GN610 not deploying (an over-budget draft, or already started / finished); GN004 bad p_now.';
