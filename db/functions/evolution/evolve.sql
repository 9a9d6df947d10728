-- docs/evolution.md#next-variable: one single-variable iteration of a winner, with lineage and iteration limits.

-- One piece on purpose: one transaction under the winner's row lock, so the iteration limits
-- hold exactly; its steps, marked inside, are the winner checks (over _winner_status), the
-- choice of the change (over _evolution_candidates and _evolution_choice) and the child with
-- its lineage (over plan_ads). The heavy parts are already their own functions.
CREATE OR REPLACE FUNCTION genome.evolve(
    p_winner_ad_id uuid,
    p_now timestamptz DEFAULT now(),
    p_seed bigint DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_ad record;
    v_status record;
    v_max_iterations integer := genome._setting_num('max_iterations_per_winner')::integer;
    v_max_rounds integer := genome._setting_num('max_rounds_per_ancestor')::integer;
    v_round integer;
    v_choice record;
    v_selection jsonb;
    v_tags jsonb;
    v_canvas text;
    v_run uuid;
    v_child uuid;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_ad(p_winner_ad_id);
    -- Step 1: the winner, locked, and its limits.
    -- The row lock serialises evolutions of one winner, so the limits hold exactly.
    SELECT g.id, g.element_tags, g.canvas_size, r.product_id
    INTO v_ad
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    WHERE g.id = p_winner_ad_id
    FOR UPDATE OF g;

    SELECT s.* INTO v_status FROM genome._winner_status(p_now, p_winner_ad_id) AS s;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad % is not a winner: it has no matured reward at %', p_winner_ad_id, p_now
            USING ERRCODE = 'GN621';
    END IF;
    IF NOT v_status.is_winner THEN
        RAISE EXCEPTION 'ad % is not a winner: %', p_winner_ad_id, v_status.not_winner_reason
            USING ERRCODE = 'GN621', HINT = 'genome.find_winners lists the winners and the criteria they met';
    END IF;
    IF v_status.iterations_used >= v_max_iterations THEN
        RAISE EXCEPTION 'winner % already has % single-variable iterations; the limit is % per winner',
            p_winner_ad_id, v_status.iterations_used, v_max_iterations
            USING ERRCODE = 'GN622', HINT = 'settings max_iterations_per_winner';
    END IF;
    v_round := v_status.iteration_round + 1;
    IF v_round > v_max_rounds THEN
        RAISE EXCEPTION 'winner % is round % of ancestor %; a child would be round %, beyond the limit of % rounds on the same ancestor',
            p_winner_ad_id, v_status.iteration_round, v_status.ancestor_ad_id, v_round, v_max_rounds
            USING ERRCODE = 'GN623', HINT = 'settings max_rounds_per_ancestor';
    END IF;
    IF cardinality(v_status.untested_variables) = 0 THEN
        RAISE EXCEPTION 'winner % has no untested element variable left to change', p_winner_ad_id
            USING ERRCODE = 'GN624';
    END IF;

    -- Step 2: the change, by information-gain weighted Thompson sampling over the candidates.
    WITH candidates AS (
        SELECT row_number() OVER ()::integer AS rn, c.*
        FROM genome._evolution_candidates(p_winner_ad_id, p_now) AS c
    ),

    arrays AS (
        SELECT
            array_agg(c.dimension ORDER BY c.rn) AS dims,
            array_agg(c.strategic_weight ORDER BY c.rn) AS weights,
            array_agg(c.lift_mean ORDER BY c.rn) AS mu,
            array_agg(c.lift_sd ORDER BY c.rn) AS sd
        FROM candidates AS c
    ),

    scored AS (
        SELECT c.*, x.*
        FROM arrays AS a
        CROSS JOIN LATERAL genome._evolution_choice(
            a.dims, a.weights, a.mu, a.sd, genome._setting_num('evolution_test_sd'),
            genome._setting_num('evolution_noise_scale'), p_seed
        ) AS x
        INNER JOIN candidates AS c ON c.rn = x.idx
    )

    SELECT
        (SELECT s.dimension FROM scored AS s WHERE s.chosen) AS dimension,
        (SELECT s.current_value FROM scored AS s WHERE s.chosen) AS current_value,
        (SELECT s.value FROM scored AS s WHERE s.chosen) AS value,
        jsonb_build_object(
            'method', 'information-gain weighted Thompson sampling',
            'seed', p_seed,
            'variables', (
                SELECT jsonb_object_agg(v.dimension, jsonb_build_object(
                    'strategic_weight', v.strategic_weight,
                    'information_gain', v.variable_information_gain,
                    'noise', v.variable_noise,
                    'score', v.variable_score
                ))
                FROM (
                    SELECT DISTINCT ON (s.dimension) s.*
                    FROM scored AS s ORDER BY s.dimension
                ) AS v
            ),
            'values', (
                SELECT jsonb_object_agg(s.value, jsonb_build_object(
                    'lift_mean', s.lift_mean,
                    'lift_sd', s.lift_sd,
                    'genome_lift', s.genome_lift,
                    'causal_lift', s.causal_lift,
                    'causal_experiments', s.causal_experiments,
                    'information_gain', s.information_gain,
                    'lift_draw', s.lift_draw
                ))
                FROM scored AS s
                WHERE s.dimension = (SELECT s2.dimension FROM scored AS s2 WHERE s2.chosen)
            )
        ) AS selection
    INTO v_choice;

    -- Step 3: the child is the winner with that one change (everything else forced), planned
    -- in a new run, with its lineage.
    v_canvas := coalesce(
        genome._try_resolve_value('canvas_size', v_ad.canvas_size),
        genome._try_resolve_value('canvas_size', v_ad.element_tags ->> 'canvas_size'),
        '1080x1080px'
    );
    v_tags := (genome.normalize_tags(coalesce(v_ad.element_tags, '{}'::jsonb)) - 'canvas_size')
        || jsonb_build_object(v_choice.dimension, v_choice.value);
    v_selection := v_choice.selection || jsonb_build_object(
        'filled_variables', (
            SELECT coalesce(jsonb_agg(d.dimension ORDER BY d.dimension), '[]'::jsonb)
            FROM genome.element_dimensions AS d
            WHERE d.kind = 'element' AND NOT v_tags ? d.dimension
        )
    );

    INSERT INTO public.ad_runs (product_id, status, parameters, max_attempts, created_at)
    VALUES (
        v_ad.product_id, 'pending',
        jsonb_build_object('genome_evolution', jsonb_build_object(
            'winner_ad_id', p_winner_ad_id, 'variable', v_choice.dimension,
            'from', v_choice.current_value, 'to', v_choice.value, 'iteration_round', v_round
        )),
        1, p_now
    )
    RETURNING id INTO v_run;
    SELECT x INTO v_child FROM genome.plan_ads(v_run, 1, p_now, p_seed, v_tags, v_canvas) AS x;

    UPDATE public.generated_ads
    SET parent_ad_id = p_winner_ad_id, iteration_round = v_round
    WHERE id = v_child;
    INSERT INTO genome.ad_lineage (
        organization_id, parent_ad_id, child_ad_id, ancestor_ad_id, evolution_type, variable_changed,
        variable_from, variable_to, iteration_round, selection, created_at
    )
    VALUES (
        v_status.organization_id, p_winner_ad_id, v_child, v_status.ancestor_ad_id, 'iteration',
        v_choice.dimension, v_choice.current_value, v_choice.value, v_round, v_selection, p_now
    );
    RETURN v_child;
END
$$;
COMMENT ON FUNCTION genome.evolve(uuid, timestamptz, bigint) IS
'Winner evolution (docs/evolution.md#next-variable): plans one child of a winner with exactly one element changed. The variable is chosen by information-gain weighted Thompson sampling (genome._evolution_candidates: lift beliefs from genome scores and causal_effects; genome._evolution_choice: strategic_weight x information gain + noise proportional to it, then a Thompson draw of the value); the child is planned through plan_ads in a new ad_run with every other tag of the winner forced (selection.filled_variables lists element variables the winner had no tag for, which the genome picked), gets parent_ad_id and iteration_round, and an ad_lineage row (iteration, variable from/to, round, ancestor, the selection scores). p_seed makes the choice reproducible. GN005 NULL ad; GN006 unknown ad; GN621 not a winner at p_now (with the reason); GN622 the winner already has max_iterations_per_winner iterations (the 6th is refused); GN623 the child would be round max_rounds_per_ancestor + 1 of its ancestor (the 4th round is refused); GN624 no untested variable left; GN004 bad p_now; GN100/GN101 invalid tags on the winner.';
