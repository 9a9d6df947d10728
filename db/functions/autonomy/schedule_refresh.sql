-- Anti-fatigue refresh (docs/evolution.md#fatigue-refresh): winners that have fatigued, or will within the lead
-- time, get a child ad planned that keeps their elements but one.

-- One piece on purpose: one transaction's three statements over one snapshot, numbered
-- inside: (1) one query whose named CTEs pick the due winners, their forecast and their one
-- change and insert a run for each; (2) plan_ads plans the child of each run; (3) the children
-- get their parent and lineage. Each statement reads the previous one's rows (the runs' ids,
-- the planned children), which would otherwise travel between functions as arrays.
CREATE OR REPLACE FUNCTION genome.schedule_refresh(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_min_reward double precision := genome._setting_num('winner_min_reward');
    v_min_impressions double precision := genome._setting_num('winner_min_impressions');
    v_min_days double precision := genome._setting_num('winner_min_matured_days');
    v_lead integer := genome._setting_num('refresh_lead_days')::integer;
    v_dims jsonb := genome._setting('refresh_dimensions');
    v_runs uuid [];
    v_planned jsonb;
    v_rows integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF jsonb_typeof(v_dims) <> 'array' OR jsonb_array_length(v_dims) = 0 OR EXISTS (
        SELECT 1 FROM jsonb_array_elements_text(v_dims) AS x (dim)
        WHERE NOT EXISTS (
            SELECT 1 FROM genome.element_dimensions AS d WHERE d.dimension = x.dim AND d.kind = 'element'
        )
    ) THEN
        RAISE EXCEPTION 'setting refresh_dimensions must be a non-empty array of element dimensions, got %', v_dims
            USING ERRCODE = 'GN090';
    END IF;

    -- 1. Due winners and their one change; one new run per refresh records the plan.
    WITH winners AS (
        SELECT
            g.id AS ad_id,
            g.element_tags,
            g.iteration_round,
            coalesce(genome._try_resolve_value('canvas_size', g.canvas_size), '1080x1080px') AS canvas,
            r.product_id,
            cer.brand_id,
            af.first_date,
            af.status
        FROM genome.creative_element_rewards AS cer
        INNER JOIN genome.ad_fatigue AS af ON af.generated_ad_id = cer.generated_ad_id
        INNER JOIN public.generated_ads AS g ON g.id = cer.generated_ad_id
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        WHERE cer.matured_at <= p_now
          AND cer.reward_score >= v_min_reward
          AND cer.total_impressions >= v_min_impressions
          AND p_now::date - cer.first_date >= v_min_days
          AND NOT EXISTS (
              SELECT 1 FROM genome.ad_lineage AS l
              WHERE l.parent_ad_id = g.id AND l.evolution_type = 'refresh'
          )
    ),

    brand_forecasts AS MATERIALIZED (
        -- predict_fatigue once per brand, not once per winner.
        SELECT
            wb.brand_id,
            p.combo_key,
            p.combo_size,
            p.n_fatigued,
            p.n_ads,
            p.median_days_to_fatigue,
            p.dimensions,
            p.element_values,
            coalesce(
                (SELECT jsonb_object_agg(x.d, x.v) FROM unnest(p.dimensions, p.element_values) AS x (d, v)),
                '{}'::jsonb
            ) AS combo_tags
        FROM (SELECT DISTINCT w.brand_id FROM winners AS w) AS wb
        CROSS JOIN LATERAL genome.predict_fatigue(wb.brand_id) AS p
        WHERE p.median_days_to_fatigue IS NOT NULL
    ),

    winner_keys AS MATERIALIZED (
        -- Each winner's values of each set of dimensions its brand's forecasts use (a few
        -- dozen sets), so a winner meets the combinations it may carry by equality (a hash
        -- join) instead of testing its tags against every forecast of its brand (700 winners
        -- x 540 forecasts a brand in a 90-day demo). A missing tag is NULL, which arrays
        -- compare equal to NULL: the containment test below keeps the exact rule.
        -- MATERIALIZED, like matched below: on the planner's estimates for the function
        -- scans (110 winners, 109,450 forecasts for 751 and 1,583) it joined the winners to
        -- their brand's forecasts by brand and tested containment on every pair (1.2M tests,
        -- 280 ms a day by day 90) before the equality join.
        SELECT
            w.ad_id,
            w.brand_id,
            ds.dimensions,
            CASE cardinality(ds.dimensions)
                WHEN 0 THEN '{}'::text []
                WHEN 1 THEN ARRAY[w.element_tags ->> ds.dimensions[1]]
                WHEN 2 THEN ARRAY[w.element_tags ->> ds.dimensions[1], w.element_tags ->> ds.dimensions[2]]
                WHEN 3 THEN ARRAY[
                    w.element_tags ->> ds.dimensions[1],
                    w.element_tags ->> ds.dimensions[2],
                    w.element_tags ->> ds.dimensions[3]
                ]
                ELSE ARRAY(
                    SELECT w.element_tags ->> x.d
                    FROM unnest(ds.dimensions) WITH ORDINALITY AS x (d, i)
                    ORDER BY x.i
                )
            END AS element_values
        FROM winners AS w
        INNER JOIN (SELECT DISTINCT bf.brand_id, bf.dimensions FROM brand_forecasts AS bf) AS ds
            ON ds.brand_id = w.brand_id
    ),

    matched AS MATERIALIZED (
        -- The forecasts whose dimensions and values equal one of a winner's keys.
        SELECT
            k.ad_id,
            bf.combo_key,
            bf.combo_size,
            bf.n_fatigued,
            bf.n_ads,
            bf.median_days_to_fatigue,
            bf.combo_tags
        FROM winner_keys AS k
        INNER JOIN brand_forecasts AS bf
            ON bf.brand_id = k.brand_id
            AND bf.dimensions = k.dimensions
            AND bf.element_values = k.element_values
    ),

    best_forecast AS (
        -- The most specific combination of the winner with a days-to-fatigue estimate.
        SELECT DISTINCT ON (w.ad_id)
            w.ad_id,
            m.combo_key,
            m.median_days_to_fatigue
        FROM winners AS w
        INNER JOIN matched AS m ON m.ad_id = w.ad_id
        WHERE w.element_tags @> m.combo_tags
        ORDER BY w.ad_id, m.combo_size DESC, m.n_fatigued DESC, m.n_ads DESC, m.combo_key
    ),

    forecast AS (
        SELECT
            w.*,
            pf.combo_key AS basis,
            w.first_date + greatest(round(pf.median_days_to_fatigue)::integer - 1, 0) AS predicted_on
        FROM winners AS w
        LEFT JOIN best_forecast AS pf ON pf.ad_id = w.ad_id
    ),

    due AS (
        SELECT ranked.*
        FROM (
            SELECT
                f.*,
                row_number() OVER (
                    PARTITION BY f.brand_id ORDER BY f.predicted_on NULLS FIRST, f.ad_id
                ) AS brand_rank
            FROM forecast AS f
            WHERE f.status IN ('fatigued', 'decaying')
               OR f.predicted_on - v_lead <= p_now::date
        ) AS ranked
        WHERE ranked.brand_rank <= genome._setting_num('refresh_max_per_brand')
    ),

    changes AS (
        -- The refresh changes the surface dimension whose best other value scores highest
        -- for the brand (ties: the order of refresh_dimensions).
        SELECT DISTINCT ON (d.ad_id)
            d.*,
            rd.dim,
            d.element_tags ->> rd.dim AS value_from,
            ev.value AS value_to
        FROM due AS d
        CROSS JOIN LATERAL jsonb_array_elements_text(v_dims) WITH ORDINALITY AS rd (dim, pos)
        INNER JOIN genome.element_values AS ev
            ON ev.dimension = rd.dim AND ev.value IS DISTINCT FROM d.element_tags ->> rd.dim
        LEFT JOIN genome.creative_element_scores AS s
            ON s.brand_id = d.brand_id AND s.product_id IS NULL
            AND s.element_dimension = ev.dimension AND s.element_value = ev.value
        ORDER BY
            d.ad_id,
            coalesce(s.posterior_alpha / (s.posterior_alpha + s.posterior_beta), 0.5) DESC,
            rd.pos,
            ev.value
    ),

    runs AS (
        INSERT INTO public.ad_runs (product_id, status, parameters, generation_config, created_at)
        SELECT
            c.product_id,
            'pending',
            jsonb_build_object(
                'evolution', 'refresh',
                'parent_ad_id', c.ad_id,
                'variable_changed', c.dim,
                'variable_from', c.value_from,
                'variable_to', c.value_to,
                'fixed', (c.element_tags - 'canvas_size') || jsonb_build_object(c.dim, c.value_to),
                'canvas_size', c.canvas,
                'fatigue_status', c.status,
                'predicted_fatigue_on', c.predicted_on,
                'forecast_basis', c.basis,
                'iteration_round', coalesce(c.iteration_round, 0) + 1
            ),
            '{}'::jsonb,
            p_now
        FROM changes AS c
        RETURNING id
    )

    SELECT array_agg(runs.id) INTO v_runs FROM runs;

    IF v_runs IS NULL THEN
        RETURN 0;
    END IF;

    -- 2. Plan one child per run (genome.plan_ads: row, generate job, attempts).
    SELECT jsonb_agg(jsonb_build_object('run', r.id, 'child', pa.child))
    INTO v_planned
    FROM public.ad_runs AS r
    CROSS JOIN LATERAL genome.plan_ads(
        r.id, 1, p_now, abs(hashtext(r.id::text))::bigint, r.parameters -> 'fixed',
        r.parameters ->> 'canvas_size'
    ) AS pa (child)
    WHERE r.id = ANY(v_runs);

    -- 3. Lineage: parent, child, ancestor, the variable changed.
    WITH planned AS (
        SELECT
            (x ->> 'child')::uuid AS child_id,
            r.parameters AS prm,
            (r.parameters ->> 'parent_ad_id')::uuid AS parent_id
        FROM jsonb_array_elements(v_planned) AS x
        INNER JOIN public.ad_runs AS r ON r.id = (x ->> 'run')::uuid
    ),

    children AS (
        UPDATE public.generated_ads AS g
        SET parent_ad_id = p.parent_id,
            iteration_round = (p.prm ->> 'iteration_round')::integer
        FROM planned AS p
        WHERE g.id = p.child_id
        RETURNING g.id
    )

    INSERT INTO genome.ad_lineage (
        organization_id, parent_ad_id, child_ad_id, ancestor_ad_id, evolution_type,
        variable_changed, variable_from, variable_to, iteration_round, created_at
    )
    SELECT
        b.organization_id,
        p.parent_id,
        p.child_id,
        coalesce(
            (SELECT l.ancestor_ad_id FROM genome.ad_lineage AS l
             WHERE l.child_ad_id = p.parent_id ORDER BY l.created_at LIMIT 1),
            p.parent_id
        ),
        'refresh',
        p.prm ->> 'variable_changed',
        p.prm ->> 'variable_from',
        p.prm ->> 'variable_to',
        greatest((p.prm ->> 'iteration_round')::integer, 1),
        p_now
    FROM planned AS p
    INNER JOIN public.generated_ads AS g ON g.id = p.parent_id
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = r.product_id
    INNER JOIN public.brands AS b ON b.id = pr.brand_id
    WHERE EXISTS (SELECT 1 FROM children AS c WHERE c.id = p.child_id);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.schedule_refresh(timestamptz) IS
'Daily (job fatigue_refresh, after detect_fatigue): for at most refresh_max_per_brand winners per brand (soonest fatigue first), (matured reward >= winner_min_reward, >= winner_min_impressions, launched >= winner_min_matured_days before p_now) without a refresh child yet whose genome.ad_fatigue status is fatigued or decaying, or (still fresh or in its first week) with a predicted fatigue date (first day + the median days-to-fatigue of its most specific combination in genome.predict_fatigue) within refresh_lead_days of p_now: a new ad_run of its product (parameters record the plan and the forecast) and one child planned by genome.plan_ads with the winner''s tags, except one dimension of refresh_dimensions changed to the value the brand''s scores rate highest; the child gets parent_ad_id and iteration_round, and genome.ad_lineage a refresh row (ancestor carried over). Returns the number of refreshes planned. GN004 bad p_now, GN090 bad refresh_dimensions; plan_ads errors (GN005, GN010, GN011, GN012, GN101) pass through.';
