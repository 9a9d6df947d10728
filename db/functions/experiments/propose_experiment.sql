-- docs/experiments.md#design: a budget-gated single-variable experiment, its deployment plan and its arms' ads.

-- One piece: it reads top-down as argument checks (a third of its length), the power analysis
-- (already its own functions: _experiment_baseline, _required_sample_size, _brand_cpm), then
-- the experiment, its arms and their ads; the checks serve this function alone.

-- The earlier signature without p_ads_per_arm.
DROP FUNCTION IF EXISTS genome.propose_experiment(
    uuid, uuid, text, text, text [], text, numeric, integer, text, numeric, timestamptz, boolean
);

CREATE OR REPLACE FUNCTION genome.propose_experiment(
    p_brand_id uuid,
    p_product_id uuid,
    p_test_variable text,
    p_control_value text,
    p_treatment_values text [],
    p_hypothesis text,
    p_budget_per_arm_daily numeric,
    p_max_days integer,
    p_primary_metric text DEFAULT 'link_ctr',
    p_mde numeric DEFAULT 0.20,
    p_now timestamptz DEFAULT now(),
    p_allow_over_budget boolean DEFAULT false,
    p_ads_per_arm integer DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_org uuid;
    v_kind text;
    v_control text;
    v_treatments text[];
    v_bad text;
    v_metric jsonb;
    v_arms integer;
    v_baseline record;
    v_ctr record;
    v_cpm record;
    v_alpha double precision := genome._setting_num('experiment_test_alpha');
    v_power double precision := genome._setting_num('experiment_power');
    v_trials bigint;
    v_impressions bigint;
    v_spend_per_arm numeric;
    v_available numeric;
    v_min_daily numeric;
    v_over boolean;
    v_hold jsonb;
    v_id uuid;
    v_run uuid;
    v_arm record;
    v_ad uuid;
    v_name text;
    v_min_ads integer := genome._setting_int('experiment_min_ads_per_arm');
    v_ads integer;
BEGIN
    PERFORM genome._check_payload_size(
        concat(p_hypothesis, p_control_value, p_treatment_values::text), 'experiment text'
    );
    v_org := genome._check_brand_product(p_brand_id, p_product_id);
    PERFORM genome._require_now(p_now);
    IF p_product_id IS NULL THEN
        RAISE EXCEPTION 'an experiment needs a product: its arms'' ads are planned in an ad_run of that product'
            USING ERRCODE = 'GN609';
    END IF;

    SELECT d.kind INTO v_kind FROM genome.element_dimensions AS d WHERE d.dimension = p_test_variable;
    IF v_kind IS DISTINCT FROM 'element' THEN
        RAISE EXCEPTION 'test variable "%" is not an element dimension', coalesce(p_test_variable, 'NULL')
            USING ERRCODE = 'GN601',
                  HINT = 'an experiment tests exactly one element: a genome.element_dimensions row of kind element';
    END IF;
    v_control := genome._try_resolve_value(p_test_variable, p_control_value);
    IF v_control IS NULL THEN
        RAISE EXCEPTION 'unknown control value "%" for %', coalesce(p_control_value, 'NULL'), p_test_variable
            USING ERRCODE = 'GN602';
    END IF;
    IF p_treatment_values IS NULL OR cardinality(p_treatment_values) NOT BETWEEN 1 AND 3 THEN
        RAISE EXCEPTION 'an experiment needs 1 to 3 treatment values, got %',
            coalesce(cardinality(p_treatment_values), 0)
            USING ERRCODE = 'GN603';
    END IF;
    SELECT t.raw INTO v_bad
    FROM unnest(p_treatment_values) AS t (raw)
    WHERE genome._try_resolve_value(p_test_variable, t.raw) IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown treatment value "%" for %', coalesce(v_bad, 'NULL'), p_test_variable
            USING ERRCODE = 'GN602';
    END IF;
    SELECT array_agg(genome._try_resolve_value(p_test_variable, t.raw) ORDER BY t.n)
    INTO v_treatments
    FROM unnest(p_treatment_values) WITH ORDINALITY AS t (raw, n);
    IF v_control = ANY(v_treatments)
        OR (SELECT count(DISTINCT x) FROM unnest(v_treatments) AS x) < cardinality(v_treatments) THEN
        RAISE EXCEPTION 'treatment values must differ from each other and from the control "%"', v_control
            USING ERRCODE = 'GN603';
    END IF;
    IF p_hypothesis IS NULL OR btrim(p_hypothesis) = '' THEN
        RAISE EXCEPTION 'an experiment needs a hypothesis' USING ERRCODE = 'GN604';
    END IF;
    IF p_budget_per_arm_daily IS NULL OR p_budget_per_arm_daily = 'NaN'::numeric
        OR p_budget_per_arm_daily <= 0 OR p_budget_per_arm_daily >= 1e8 THEN
        RAISE EXCEPTION 'budget_per_arm_daily must be a positive amount below 100,000,000, got %',
            coalesce(p_budget_per_arm_daily::text, 'NULL')
            USING ERRCODE = 'GN605';
    END IF;
    IF p_max_days IS NULL OR p_max_days < 1 THEN
        RAISE EXCEPTION 'max_days must be at least 1, got %', coalesce(p_max_days::text, 'NULL')
            USING ERRCODE = 'GN605';
    END IF;
    v_ads := coalesce(p_ads_per_arm, v_min_ads);
    IF v_ads NOT BETWEEN 1 AND 20 THEN
        RAISE EXCEPTION 'ads_per_arm must be 1 to 20, got %', v_ads
            USING ERRCODE = 'GN605',
                  HINT = 'several creatives per arm measure the element (setting experiment_min_ads_per_arm)';
    END IF;
    v_metric := genome._setting('experiment_metrics') -> p_primary_metric;
    IF v_metric IS NULL THEN
        RAISE EXCEPTION 'unknown primary metric "%"', coalesce(p_primary_metric, 'NULL')
            USING ERRCODE = 'GN606',
                  HINT = 'metrics are the keys of the experiment_metrics setting';
    END IF;
    IF p_mde IS NULL OR p_mde = 'NaN'::numeric OR p_mde <= 0 OR p_mde >= 100 THEN
        RAISE EXCEPTION 'mde (relative lift to detect) must be positive and below 100, got %',
            coalesce(p_mde::text, 'NULL')
            USING ERRCODE = 'GN607';
    END IF;

    -- Power analysis on the brand's baseline (docs/experiments.md#budget-gate).
    v_arms := 1 + cardinality(v_treatments);
    SELECT * INTO v_baseline FROM genome._experiment_baseline(p_brand_id, p_primary_metric, p_now);
    v_trials := genome._required_sample_size(v_baseline.rate, p_mde::double precision, v_alpha, v_power);
    IF v_metric ->> 'trials' = 'impressions' THEN
        v_impressions := v_trials;
    ELSE
        SELECT * INTO v_ctr FROM genome._experiment_baseline(p_brand_id, 'link_ctr', p_now);
        v_impressions := ceil(v_trials / v_ctr.rate)::bigint;
    END IF;
    SELECT * INTO v_cpm FROM genome._brand_cpm(p_brand_id, p_now);
    v_spend_per_arm := round(v_impressions * v_cpm.cpm::numeric / 1000.0, 2);
    v_available := p_budget_per_arm_daily * p_max_days;
    v_min_daily := round(ceil(v_spend_per_arm / p_max_days * 100) / 100, 2);
    v_over := v_available < v_spend_per_arm;
    IF v_over AND NOT coalesce(p_allow_over_budget, false) THEN
        RAISE EXCEPTION '%', format(
            'under-funded experiment: it needs %s per arm (%s in total) and the budget gives %s per arm '
            '(%s per day x %s days); %s arms x %s %s at CPM %s, for %s%% power to detect a %s%% lift '
            'on a %s baseline of %s',
            v_spend_per_arm, v_spend_per_arm * v_arms, round(v_available, 2), round(p_budget_per_arm_daily, 2),
            p_max_days,
            v_arms, v_impressions, 'impressions', round(v_cpm.cpm::numeric, 2), round(v_power * 100),
            round(p_mde * 100, 1), p_primary_metric, round(v_baseline.rate::numeric, 6))
            USING ERRCODE = 'GN608',
                  DETAIL = format('needed spend: %s per arm, %s in total', v_spend_per_arm, v_spend_per_arm * v_arms),
                  HINT = format(
                      'raise budget_per_arm_daily to at least %s, or max_days to %s, or test a larger mde; '
                      'p_allow_over_budget => true records it as an over-budget draft',
                      v_min_daily, ceil(v_spend_per_arm / p_budget_per_arm_daily));
    END IF;

    -- The control's other elements, chosen by the genome, are held constant in every arm.
    v_hold := (genome.select_elements(
        p_brand_id, p_product_id, p_now, NULL, jsonb_build_object(p_test_variable, v_control)
    ) -> 'element_tags') - p_test_variable;
    v_name := format('%s: %s vs %s', p_test_variable, v_control, array_to_string(v_treatments, ' / '));

    INSERT INTO genome.experiments (
        organization_id, brand_id, product_id, name, hypothesis, test_variable, status,
        hold_constant, budget_per_arm_daily, max_days, primary_metric, mde, baseline_rate,
        baseline_source, required_trials_per_arm, required_impressions_per_arm, cpm, cpm_source,
        required_spend, over_budget, significance_level, created_at, ads_per_arm, scope
    )
    VALUES (
        v_org, p_brand_id, p_product_id, v_name, btrim(p_hypothesis), p_test_variable,
        CASE WHEN v_over THEN 'draft' ELSE 'deploying' END,
        v_hold, p_budget_per_arm_daily, p_max_days, p_primary_metric, p_mde, v_baseline.rate,
        v_baseline.source, v_trials, v_impressions, round(v_cpm.cpm::numeric, 4), v_cpm.source,
        v_spend_per_arm * v_arms, v_over, genome._setting_num('experiment_significance_level'), p_now,
        v_ads, CASE WHEN v_ads >= v_min_ads THEN 'element' ELSE 'ad_level' END
    )
    RETURNING id INTO v_id;

    INSERT INTO genome.experiment_arms (
        experiment_id, arm_name, arm_index, test_variable_value, element_tags, planned_share,
        planned_budget_daily, created_at
    )
    SELECT
        v_id,
        CASE WHEN a.n = 0 THEN 'control' ELSE 'treatment_' || a.n END,
        a.n,
        a.value,
        v_hold || jsonb_build_object(p_test_variable, a.value),
        1.0 / v_arms,
        p_budget_per_arm_daily,
        p_now
    FROM unnest(v_control || v_treatments) WITH ORDINALITY AS a0 (value, pos)
    CROSS JOIN LATERAL (SELECT a0.value, (a0.pos - 1)::integer AS n) AS a;

    -- An over-budget draft costs nothing yet: its ads are planned only for a funded test.
    IF NOT v_over THEN
        INSERT INTO public.ad_runs (product_id, status, parameters, max_attempts, created_at)
        VALUES (
            p_product_id, 'pending', jsonb_build_object('genome_experiment_id', v_id), v_arms * v_ads, p_now
        )
        RETURNING id INTO v_run;
        -- v_ads creatives per arm, all with the arm's elements (docs/experiments.md#ad-level);
        -- at most four arms.
        FOR v_arm IN
            SELECT a.id, a.arm_index, a.element_tags FROM genome.experiment_arms AS a
            WHERE a.experiment_id = v_id ORDER BY a.arm_index
        LOOP
            FOR v_ad IN SELECT x FROM genome.plan_ads(v_run, v_ads, p_now, NULL, v_arm.element_tags) AS x
            LOOP
                INSERT INTO genome.experiment_arm_ads (experiment_id, arm_index, generated_ad_id, added_at)
                VALUES (v_id, v_arm.arm_index, v_ad, p_now);
            END LOOP;
            UPDATE genome.experiment_arms AS a
            SET generated_ad_id = (
                SELECT x.generated_ad_id FROM genome.experiment_arm_ads AS x
                WHERE x.experiment_id = v_id AND x.arm_index = v_arm.arm_index ORDER BY x.id LIMIT 1
            )
            WHERE a.id = v_arm.id;
        END LOOP;
    END IF;

    UPDATE genome.experiments AS e
    SET ad_run_id = v_run,
        deployment_plan = jsonb_build_object(
            'campaign', jsonb_build_object(
                'type', 'dedicated experiment campaign',
                'budget_optimization', 'CBO',
                'name', 'Genome experiment: ' || v_name,
                'objective', v_metric ->> 'campaign_objective',
                'daily_budget', p_budget_per_arm_daily * v_arms,
                'duration_days', p_max_days
            ),
            'ad_sets', (
                SELECT jsonb_agg(jsonb_build_object(
                    'arm_index', a.arm_index,
                    'arm_name', a.arm_name,
                    'test_variable_value', a.test_variable_value,
                    'ads', (
                        SELECT coalesce(jsonb_agg(x.generated_ad_id ORDER BY x.id), '[]'::jsonb)
                        FROM genome.experiment_arm_ads AS x
                        WHERE x.experiment_id = v_id AND x.arm_index = a.arm_index
                    ),
                    'status', a.status,
                    'min_daily_spend', p_budget_per_arm_daily,
                    'targeting', 'identical (audience_config)',
                    'bid_strategy', 'identical',
                    'placements', 'identical'
                ) ORDER BY a.arm_index)
                FROM genome.experiment_arms AS a WHERE a.experiment_id = v_id
            ),
            'audience_config', coalesce(e.audience_config, '{}'::jsonb),
            'rules', jsonb_build_array(
                'one dedicated CBO campaign for this experiment',
                'one ad set per arm with identical targeting, bid strategy and placements',
                'equal minimum daily spend on every ad set, so delivery stays balanced',
                format('%s ads per ad set, all with the arm''s elements; nothing else changes during the test '
                    || '(pause an arm or replace an ad through the genome, so the plan follows)', v_ads)
            ),
            'power_analysis', jsonb_build_object(
                'metric', p_primary_metric,
                'trial_unit', v_metric ->> 'trials',
                'baseline_rate', v_baseline.rate,
                'baseline_source', v_baseline.source,
                'mde', p_mde,
                'treatment_rate', v_baseline.rate * (1 + p_mde::double precision),
                'alpha', v_alpha,
                'power', v_power,
                'required_trials_per_arm', v_trials,
                'required_impressions_per_arm', v_impressions
            ),
            'budget', jsonb_build_object(
                'cpm', round(v_cpm.cpm::numeric, 4),
                'cpm_source', v_cpm.source,
                'required_spend_per_arm', v_spend_per_arm,
                'required_spend', v_spend_per_arm * v_arms,
                'available_spend_per_arm', v_available,
                'available_spend', v_available * v_arms,
                'min_budget_per_arm_daily', v_min_daily,
                'over_budget', v_over
            )
        )
    WHERE e.id = v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome.propose_experiment(
    uuid, uuid, text, text, text [], text, numeric, integer, text, numeric, timestamptz, boolean, integer
) IS
'docs/experiments.md#design: proposes a test of exactly one element (p_test_variable) with a control and 1-3 treatment values. Power analysis: trials per arm for a two-sided two-proportion test (experiment_test_alpha, experiment_power) to detect the relative lift p_mde on the brand''s baseline of the metric (genome._experiment_baseline: matured rewards, else ad_intelligence_baselines, else the experiment_metrics default; conversion_rate trials are clicks, turned into impressions with the brand''s CTR); required spend = arms x impressions x the brand''s CPM / 1000 (genome._brand_cpm). Budget gate: when budget_per_arm_daily x max_days is below the spend one arm needs, GN608 states the needed spend and minimum daily budget and nothing is written, unless p_allow_over_budget, which records a draft with over_budget = true and no ads. Otherwise the experiment is deploying: hold_constant = the other elements the genome picks for the control, one arm per value (equal planned shares and budgets), an ad_run with p_ads_per_arm (default setting experiment_min_ads_per_arm) ads per arm planned through genome.plan_ads with the arm''s tags forced (experiment_arm_ads; the arm''s generated_ad_id is its first), scope element, or ad_level with fewer ads than the setting (docs/experiments.md#ad-level), and the deployment plan (dedicated CBO campaign, one ad set per arm with identical targeting, bid and placements, equal minimum spend, the arm''s ads). GN005 NULL brand, GN001 unknown brand, GN002/GN003 bad product, GN004 bad p_now; GN601 test variable not an element; GN602 unknown control or treatment value; GN603 not 1-3 distinct treatments different from the control; GN604 no hypothesis; GN605 budget, max_days or ads_per_arm (1-20) invalid; GN606 unknown metric; GN607 mde invalid or the treated rate would reach 1; GN609 no product.';
