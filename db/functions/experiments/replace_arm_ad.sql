-- docs/experiments.md#changing-a-running-experiment: an arm's ad (rejected, broken) is replaced.

CREATE OR REPLACE FUNCTION genome.replace_arm_ad(
    p_experiment_id uuid,
    p_arm_index integer,
    p_new_ad_id uuid,
    p_reason text,
    p_old_ad_id uuid DEFAULT NULL,
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
    v_active uuid[];
    v_old uuid;
    v_new uuid;
    v_tags jsonb;
    v_brand uuid;
    v_planned boolean := p_new_ad_id IS NULL;
BEGIN
    PERFORM genome._require_now(p_now);
    v_exp := genome._require_experiment(
        p_experiment_id, ARRAY['deploying', 'running'], 'have an arm''s ad replaced'
    );
    v_arm := genome._require_experiment_arm(p_experiment_id, p_arm_index);
    v_reason := genome._require_reason(p_reason, 'replace an experiment ad');

    -- An arm made without experiment_arm_ads rows (its one ad on the arm) gets its row first.
    INSERT INTO genome.experiment_arm_ads (experiment_id, arm_index, generated_ad_id, added_at)
    SELECT p_experiment_id, p_arm_index, v_arm.generated_ad_id, v_arm.created_at
    WHERE v_arm.generated_ad_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM genome.experiment_arm_ads AS x
          WHERE x.experiment_id = p_experiment_id AND x.arm_index = p_arm_index
      );
    SELECT coalesce(array_agg(x.generated_ad_id ORDER BY x.id), '{}') INTO v_active
    FROM genome.experiment_arm_ads AS x
    WHERE x.experiment_id = p_experiment_id AND x.arm_index = p_arm_index AND x.status = 'active';
    IF p_old_ad_id IS NULL AND cardinality(v_active) <> 1 THEN
        RAISE EXCEPTION 'replacement ad: arm % has % active ads, name the one to replace (p_old_ad_id)',
            p_arm_index, cardinality(v_active) USING ERRCODE = 'GN615';
    END IF;
    v_old := coalesce(p_old_ad_id, v_active[1]);
    IF NOT v_old = ANY (v_active) THEN
        RAISE EXCEPTION 'replacement ad: % is not an active ad of arm % of experiment %', v_old, p_arm_index,
            p_experiment_id USING ERRCODE = 'GN615';
    END IF;

    IF v_planned THEN
        -- The genome plans the replacement in the experiment's run with the arm's elements.
        IF v_exp.ad_run_id IS NULL THEN
            RAISE EXCEPTION 'replacement ad: experiment % has no ad run to plan one in; pass p_new_ad_id',
                p_experiment_id USING ERRCODE = 'GN615';
        END IF;
        UPDATE public.ad_runs SET max_attempts = max_attempts + 1 WHERE id = v_exp.ad_run_id;
        SELECT x INTO v_new FROM genome.plan_ads(v_exp.ad_run_id, 1, p_now, NULL, v_arm.element_tags) AS x;
    ELSE
        PERFORM genome._require_ad(p_new_ad_id);
        SELECT g.element_tags, p.brand_id INTO v_tags, v_brand
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = r.product_id
        WHERE g.id = p_new_ad_id;
        IF v_brand IS DISTINCT FROM v_exp.brand_id
            OR NOT coalesce(v_tags, '{}'::jsonb) @> v_arm.element_tags
            OR EXISTS (
                SELECT 1 FROM genome.experiment_arm_ads AS x
                WHERE x.experiment_id = p_experiment_id AND x.generated_ad_id = p_new_ad_id
            ) THEN
            RAISE EXCEPTION 'replacement ad % cannot join arm % of experiment %: %', p_new_ad_id, p_arm_index,
                p_experiment_id,
                CASE WHEN v_brand IS DISTINCT FROM v_exp.brand_id THEN 'it is another brand''s ad'
                     WHEN NOT coalesce(v_tags, '{}'::jsonb) @> v_arm.element_tags
                         THEN format('its elements differ from the arm''s %s', v_arm.element_tags)
                     ELSE 'it is already one of the experiment''s ads' END
                USING ERRCODE = 'GN615',
                      HINT = 'a replacement shows the arm''s value and holds every other element constant; '
                      || 'pass NULL to have the genome plan one';
        END IF;
        v_new := p_new_ad_id;
    END IF;

    UPDATE genome.experiment_arm_ads
    SET status = 'replaced', replaced_at = p_now
    WHERE experiment_id = p_experiment_id AND generated_ad_id = v_old;
    INSERT INTO genome.experiment_arm_ads (experiment_id, arm_index, generated_ad_id, added_at)
    VALUES (p_experiment_id, p_arm_index, v_new, p_now);
    UPDATE genome.experiments AS e
    SET deployment_plan = jsonb_set(e.deployment_plan, '{ad_sets}', (
        SELECT jsonb_agg(CASE WHEN (s.elem ->> 'arm_index')::integer = p_arm_index
            THEN jsonb_set(s.elem, '{ads}', (
                SELECT coalesce(jsonb_agg(a.ad ORDER BY a.n), '[]'::jsonb)
                FROM (
                    SELECT to_jsonb(v_new) AS ad, o.n
                    FROM jsonb_array_elements(s.elem -> 'ads') WITH ORDINALITY AS o (ad, n)
                    WHERE o.ad = to_jsonb(v_old)
                    UNION ALL
                    SELECT o.ad, o.n
                    FROM jsonb_array_elements(s.elem -> 'ads') WITH ORDINALITY AS o (ad, n)
                    WHERE o.ad <> to_jsonb(v_old)
                ) AS a
            ))
            ELSE s.elem END ORDER BY s.ord)
        FROM jsonb_array_elements(e.deployment_plan -> 'ad_sets') WITH ORDINALITY AS s (elem, ord)
    ))
    WHERE e.id = p_experiment_id AND jsonb_typeof(e.deployment_plan -> 'ad_sets') = 'array';
    INSERT INTO genome.experiment_events (
        experiment_id, arm_index, event_type, source, reason, details, created_at
    )
    VALUES (
        p_experiment_id, p_arm_index, 'replace_ad', 'person', v_reason,
        jsonb_build_object('old_ad_id', v_old, 'new_ad_id', v_new, 'planned_by_genome', v_planned),
        p_now
    );
    RETURN v_new;
END
$$;
COMMENT ON FUNCTION genome.replace_arm_ad(uuid, integer, uuid, text, uuid, timestamptz) IS
'docs/experiments.md#changing-a-running-experiment: replaces an ad of arm p_arm_index of a deploying or running experiment (e.g. rejected by Meta) for the reason given. p_old_ad_id names the ad (optional when the arm has one active ad). p_new_ad_id is an ad of the experiment''s brand whose element_tags contain the arm''s (its value, everything else held constant) and not yet in the experiment; NULL plans one through genome.plan_ads in the experiment''s run with the arm''s tags (one more attempt on the run). The old ad''s experiment_arm_ads row becomes replaced (the data it gathered still counts for the arm), the new one is active, the arm''s ad set in deployment_plan lists it, and a replace_ad row goes to genome.experiment_events. Returns the new ad id. GN005 NULL experiment; GN600 unknown experiment; GN611 not deploying or running; GN613 no such arm; GN612 no reason; GN615 the old ad is not an active ad of the arm (or must be named), the new ad is another brand''s, differs in its elements or is already in the experiment, or there is no run to plan in; GN006 unknown new ad; GN004 bad p_now; plan_ads'' codes when it plans one.';
