-- Generation A/B tests (docs/experiments.md#generation-ab-tests): which arm an ad run belongs to.

CREATE OR REPLACE FUNCTION genome._generation_assignment(p_ad_run_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_run record;
    v_exp genome.generation_experiments;
    v_seq integer;
    v_group text;
BEGIN
    PERFORM genome._require_run(p_ad_run_id);
    SELECT r.id, r.experiment_id, r.experiment_group, p.brand_id
    INTO v_run
    FROM public.ad_runs AS r
    INNER JOIN public.products AS p ON p.id = r.product_id
    WHERE r.id = p_ad_run_id
    FOR UPDATE OF r;

    -- Idempotent: a run keeps the arm it was given first.
    IF v_run.experiment_id IS NOT NULL AND v_run.experiment_group IS NOT NULL THEN
        SELECT e.* INTO v_exp FROM genome.generation_experiments AS e WHERE e.id = v_run.experiment_id;
        RETURN jsonb_build_object(
            'experiment_id', v_exp.id,
            'group', v_run.experiment_group,
            'config', CASE WHEN v_run.experiment_group = 'control' THEN v_exp.control_config ELSE v_exp.variant_config END
        );
    END IF;

    -- The experiment row lock serialises assignments, so the sequence has no gaps or repeats.
    SELECT e.* INTO v_exp
    FROM genome.generation_experiments AS e
    WHERE e.brand_id = v_run.brand_id AND e.status = 'active'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    -- The k-th run of the brand assigned in this experiment: odd k control, even k variant
    -- (for split_ratio r in general: variant when floor(k r) steps up, which is odd/even at 0.5).
    SELECT count(*) + 1 INTO v_seq
    FROM public.ad_runs AS r
    WHERE r.experiment_id = v_exp.id;
    v_group := CASE
        WHEN floor(v_seq * v_exp.split_ratio) > floor((v_seq - 1) * v_exp.split_ratio) THEN 'variant'
        ELSE 'control'
    END;

    UPDATE public.ad_runs AS r
    SET experiment_id = v_exp.id, experiment_group = v_group
    WHERE r.id = p_ad_run_id;

    RETURN jsonb_build_object(
        'experiment_id', v_exp.id,
        'group', v_group,
        'sequence', v_seq,
        'config', CASE WHEN v_group = 'control' THEN v_exp.control_config ELSE v_exp.variant_config END
    );
END
$$;
COMMENT ON FUNCTION genome._generation_assignment(uuid) IS
'Internal (called by plan_ads): the generation A/B arm of an ad run. NULL when the run''s brand has no active generation experiment (and the run has none recorded); otherwise {experiment_id, group, config[, sequence]}: the k-th run of the brand assigned in the experiment gets control when k is odd and variant when k is even (split_ratio 0.5), recorded once on ad_runs.experiment_id / experiment_group, so later calls return the same arm. GN005 NULL run, GN010 unknown run.';
