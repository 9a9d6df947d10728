-- docs/experiments.md#changing-a-running-experiment: the deployment plan after arms are paused.

CREATE OR REPLACE FUNCTION genome._experiment_plan_pause(p_plan jsonb, p_arm_indexes integer [])
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = genome, public
AS $$
    WITH sets AS (
        SELECT
            x.ord,
            CASE WHEN (x.elem ->> 'arm_index')::integer = ANY (p_arm_indexes)
                THEN x.elem || jsonb_build_object('status', 'paused', 'min_daily_spend', 0)
                ELSE x.elem END AS elem
        FROM jsonb_array_elements(coalesce(p_plan -> 'ad_sets', '[]'::jsonb)) WITH ORDINALITY AS x (elem, ord)
    )

    SELECT CASE
        WHEN p_plan IS NULL OR NOT (p_plan ? 'ad_sets') THEN p_plan
        ELSE jsonb_set(
            jsonb_set(p_plan, '{ad_sets}', (SELECT jsonb_agg(s.elem ORDER BY s.ord) FROM sets AS s)),
            '{campaign,daily_budget}',
            to_jsonb((SELECT sum((s.elem ->> 'min_daily_spend')::numeric) FROM sets AS s)),
            false
        )
    END;
$$;
COMMENT ON FUNCTION genome._experiment_plan_pause(jsonb, integer []) IS
'Internal: an experiment''s deployment_plan with the ad sets of p_arm_indexes paused (status paused, min_daily_spend 0) and the campaign''s daily_budget the sum of the remaining ad sets'' budgets; a plan without ad_sets is returned unchanged.';
