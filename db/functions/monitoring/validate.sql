-- VALIDATE (docs/monitoring.md#validation): weekly prediction accuracy per brand and the stale flag.

-- One piece on purpose: one transaction's two steps for the ISO week of p_now, marked inside:
-- step 1 is one INSERT whose named CTEs are the stages of the accuracy (launched ads, average
-- ranks, Spearman, Fisher interval); step 2 reads this week's rows just written, with the
-- brands already stale, into the stale flag and its alert. The settings are checked once for
-- both.
CREATE OR REPLACE FUNCTION genome.validate(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_today date;
    v_week date;
    v_lag integer := genome._setting_num('prediction_lag_days')::integer;
    v_window integer := genome._setting_num('validation_window_days')::integer;
    v_min integer := genome._setting_num('validation_min_ads')::integer;
    v_threshold double precision := genome._setting_num('stale_accuracy_threshold');
    v_weeks integer := genome._setting_num('stale_weeks')::integer;
    v_level double precision;
    v_z double precision;
    v_rows integer;
    v_alerts integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF v_lag < 0 OR v_window < 1 OR v_min < 4 OR v_weeks < 1 OR v_threshold NOT BETWEEN -1 AND 1 THEN
        RAISE EXCEPTION 'validation settings out of range: prediction_lag_days % (>= 0), validation_window_days % (>= 1), validation_min_ads % (>= 4), stale_weeks % (>= 1), stale_accuracy_threshold % (-1..1)',
            v_lag, v_window, v_min, v_weeks, v_threshold
            USING ERRCODE = 'GN090';
    END IF;
    v_level := genome._ci_level();
    v_z := genome._normal_quantile(0.5 + v_level / 2);
    v_today := (p_now AT TIME ZONE 'UTC')::date;
    v_week := date_trunc('week', v_today)::date;

    -- Step 1: this week's accuracy per brand (Spearman and its Fisher interval).
    WITH launched AS (
        -- The brand through ad_run -> product (ads carry no brand_id), ads launched lag+ days ago whose
        -- reward had matured by p_now.
        SELECT
            b.organization_id,
            b.id AS brand_id,
            g.pre_gen_score::double precision AS score,
            r.raw_ctr AS ctr
        FROM genome.creative_element_rewards AS r
        INNER JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
        INNER JOIN public.ad_runs AS ar ON ar.id = g.ad_run_id
        INNER JOIN public.products AS p ON p.id = ar.product_id
        INNER JOIN public.brands AS b ON b.id = p.brand_id
        WHERE g.pre_gen_score IS NOT NULL
          AND r.raw_ctr IS NOT NULL
          AND r.matured_at <= p_now
          AND r.first_date <= v_today - v_lag
          AND r.first_date > v_today - v_lag - v_window
    ),

    ranked AS (
        -- Spearman = Pearson on average ranks (ties share the mean of their ranks).
        SELECT
            l.organization_id,
            l.brand_id,
            rank() OVER (PARTITION BY l.brand_id ORDER BY l.score)
            + (count(*) OVER (PARTITION BY l.brand_id, l.score) - 1) / 2.0 AS rank_score,
            rank() OVER (PARTITION BY l.brand_id ORDER BY l.ctr)
            + (count(*) OVER (PARTITION BY l.brand_id, l.ctr) - 1) / 2.0 AS rank_ctr
        FROM launched AS l
    ),

    stats AS (
        SELECT
            rk.organization_id,
            rk.brand_id,
            count(*)::integer AS n,
            greatest(-1.0, least(1.0, corr(rk.rank_score::double precision, rk.rank_ctr::double precision))) AS rho
        FROM ranked AS rk
        GROUP BY rk.organization_id, rk.brand_id
    ),

    fisher AS (
        SELECT
            s.*,
            CASE
                WHEN s.rho IS NULL OR s.n <= 3 THEN NULL
                WHEN abs(s.rho) = 1 THEN s.rho
                ELSE tanh(atanh(s.rho) - v_z / sqrt(s.n - 3))
            END AS ci_lower,
            CASE
                WHEN s.rho IS NULL OR s.n <= 3 THEN NULL
                WHEN abs(s.rho) = 1 THEN s.rho
                ELSE tanh(atanh(s.rho) + v_z / sqrt(s.n - 3))
            END AS ci_upper,
            (s.n >= v_min AND s.rho IS NOT NULL) AS sufficient
        FROM stats AS s
    )

    INSERT INTO genome.validation_results AS v (
        organization_id, brand_id, week_start, iso_year, iso_week, computed_at, launched_from,
        launched_to, n, spearman_rho, ci_lower, ci_upper, ci_level, sufficient, below_threshold,
        threshold
    )
    SELECT
        fi.organization_id,
        fi.brand_id,
        v_week,
        extract(ISOYEAR FROM v_week)::integer,
        extract(WEEK FROM v_week)::integer,
        p_now,
        v_today - v_lag - v_window + 1,
        v_today - v_lag,
        fi.n,
        fi.rho,
        fi.ci_lower,
        fi.ci_upper,
        v_level,
        fi.sufficient,
        CASE WHEN fi.sufficient THEN fi.rho < v_threshold END,
        v_threshold
    FROM fisher AS fi
    ON CONFLICT (brand_id, week_start) DO UPDATE SET
        computed_at = excluded.computed_at,
        launched_from = excluded.launched_from,
        launched_to = excluded.launched_to,
        n = excluded.n,
        spearman_rho = excluded.spearman_rho,
        ci_lower = excluded.ci_lower,
        ci_upper = excluded.ci_upper,
        ci_level = excluded.ci_level,
        sufficient = excluded.sufficient,
        below_threshold = excluded.below_threshold,
        threshold = excluded.threshold;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    -- Step 2: the stale flag and its alert.
    -- Stale after stale_weeks consecutive sufficient weeks below the threshold (this week
    -- included); cleared by a sufficient week at or above it. Insufficient weeks change nothing.
    WITH verdicts AS (
        -- A brand stays stale (and its alert confirmed) until a sufficient week recovers.
        SELECT
            coalesce(c.organization_id, st.organization_id) AS organization_id,
            coalesce(c.brand_id, st.brand_id) AS brand_id,
            CASE
                WHEN (
                    SELECT count(*)
                    FROM genome.validation_results AS w
                    WHERE w.brand_id = c.brand_id
                      AND w.week_start > v_week - 7 * v_weeks
                      AND w.week_start <= v_week
                      AND w.sufficient
                      AND w.below_threshold
                ) = v_weeks THEN 'stale'
                WHEN c.sufficient AND NOT c.below_threshold THEN 'recovered'
                WHEN st.brand_id IS NOT NULL THEN 'stale'
            END AS verdict,
            c.spearman_rho AS rho,
            c.n,
            c.ci_lower,
            c.ci_upper
        FROM (
            SELECT vr.* FROM genome.validation_results AS vr WHERE vr.week_start = v_week
        ) AS c
        FULL JOIN (
            SELECT gs.brand_id, gs.organization_id FROM genome.genome_state AS gs WHERE gs.is_stale
        ) AS st ON st.brand_id = c.brand_id
    ),

    mark_stale AS (
        INSERT INTO genome.genome_state AS gs (
            brand_id, organization_id, genome_version, cold_start_level, is_stale, stale_since, updated_at
        )
        SELECT vd.brand_id, vd.organization_id, 0, 0, true, p_now, p_now
        FROM verdicts AS vd
        WHERE vd.verdict = 'stale'
        ON CONFLICT (brand_id) DO UPDATE SET
            is_stale = true,
            stale_since = coalesce(gs.stale_since, p_now)
        RETURNING gs.brand_id
    ),

    clear_stale AS (
        UPDATE genome.genome_state AS gs
        SET is_stale = false, stale_since = NULL
        FROM verdicts AS vd
        WHERE vd.verdict = 'recovered' AND gs.brand_id = vd.brand_id AND gs.is_stale
        RETURNING gs.brand_id
    )

    SELECT genome._sync_alerts(
        array_agg(ROW(
            vd.organization_id,
            vd.brand_id,
            'genome_stale',
            CASE WHEN vd.verdict = 'stale' THEN 'warning' END,
            format(
                'Genome predictions stale: Spearman(pre_gen_score, CTR) below %s for %s consecutive weeks (latest %s, n=%s)',
                v_threshold, v_weeks, coalesce(round(vd.rho::numeric, 3)::text, 'n/a'), coalesce(vd.n, 0)
            ),
            vd.rho,
            jsonb_build_object(
                'week_start', v_week, 'spearman_rho', vd.rho, 'n', vd.n, 'ci_lower', vd.ci_lower,
                'ci_upper', vd.ci_upper, 'threshold', v_threshold, 'weeks', v_weeks
            )
        )::genome.alert_evaluation) FILTER (WHERE vd.verdict IS NOT NULL),
        p_now
    )
    INTO v_alerts
    -- mark_stale and clear_stale run to completion although nothing reads them.
    FROM verdicts AS vd;

    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.validate(timestamptz) IS
'VALIDATE (docs/monitoring.md#validation), weekly: per brand, Spearman correlation (average ranks) of pre_gen_score with the matured CTR (creative_element_rewards.raw_ctr) of ads launched in the validation_window_days ending prediction_lag_days before p_now, with n and a Fisher-z interval at monitoring_ci_level, stored in genome.validation_results for the ISO week of p_now (replaced on a re-run that week). stale_weeks consecutive sufficient weeks below stale_accuracy_threshold set genome_state.is_stale (stale_since kept from the first stale week) and raise a genome_stale alert, re-confirmed every run while the brand stays stale; a sufficient week at or above it clears both (auto_resolved). Returns the number of brands validated. GN004 bad p_now, GN090 settings out of range.';
