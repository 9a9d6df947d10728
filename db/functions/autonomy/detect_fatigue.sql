-- Creative fatigue (docs/evolution.md#fatigue): per launched ad, the CTR of a trailing window against the
-- ad's own first matured week, together with how often its audience has seen it.

-- The markers of incremental fatigue (docs/evolution.md#fatigue): every write to the Meta
-- delivery rows or the mapping marks its (brand, Meta ad) in genome.fatigue_delivery_changes.
-- Statement triggers with transition tables: a batch import costs one upsert per statement.
CREATE OR REPLACE FUNCTION genome._fatigue_mark_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- Definer: the app's sync writes the delivery rows and may not read the markers.
    IF TG_OP = 'TRUNCATE' THEN
        -- Every ad's rows (or assessments) may have gone: the next call reads every mapped ad.
        DELETE FROM genome.fatigue_state;
        RETURN NULL;
    END IF;
    -- The statement's (brand, Meta ad) pairs: its rows' own, or for deleted assessments
    -- (genome.ad_fatigue) their ads' mapped Meta ads, so the next call assesses them again.
    -- DO UPDATE, not DO NOTHING: the writer then holds the marker's row lock until it
    -- commits, so detect_fatigue's claim (a DELETE) waits for it and the assessment after
    -- the claim reads its rows.
    EXECUTE format(
        'INSERT INTO genome.fatigue_delivery_changes AS c (brand_id, meta_ad_id) '
        'SELECT DISTINCT x.brand_id, x.meta_ad_id FROM (%s) AS x '
        'WHERE x.brand_id IS NOT NULL AND x.meta_ad_id IS NOT NULL '
        'ORDER BY x.brand_id, x.meta_ad_id '
        'ON CONFLICT (brand_id, meta_ad_id) DO UPDATE SET changed_at = excluded.changed_at',
        CASE
            WHEN TG_TABLE_NAME = 'ad_fatigue' THEN
                'SELECT m.brand_id, m.meta_ad_id FROM old_rows AS o '
                'INNER JOIN public.meta_ad_mapping AS m ON m.generated_ad_id = o.generated_ad_id'
            WHEN TG_OP = 'INSERT' THEN 'SELECT brand_id, meta_ad_id FROM new_rows'
            WHEN TG_OP = 'DELETE' THEN 'SELECT brand_id, meta_ad_id FROM old_rows'
            ELSE 'SELECT brand_id, meta_ad_id FROM new_rows UNION ALL SELECT brand_id, meta_ad_id FROM old_rows'
        END
    );
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._fatigue_mark_changes() IS
'Internal trigger on public.meta_ads_performance and public.meta_ad_mapping (docs/evolution.md#fatigue): marks each (brand, Meta ad) of the statement''s old and new rows in genome.fatigue_delivery_changes (moving changed_at when already marked), so genome.detect_fatigue reads only what changed; on genome.ad_fatigue, the Meta ads of deleted assessments; a TRUNCATE of any of the three empties genome.fatigue_state, so the next call reads every mapped ad. SECURITY DEFINER, so any role that may write the rows marks them (docs/security.md#definer-functions).';

CREATE OR REPLACE TRIGGER meta_ads_performance_fatigue_insert
AFTER INSERT ON public.meta_ads_performance
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ads_performance_fatigue_update
AFTER UPDATE ON public.meta_ads_performance
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ads_performance_fatigue_delete
AFTER DELETE ON public.meta_ads_performance
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ads_performance_fatigue_truncate
AFTER TRUNCATE ON public.meta_ads_performance
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ad_mapping_fatigue_insert
AFTER INSERT ON public.meta_ad_mapping
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ad_mapping_fatigue_update
AFTER UPDATE ON public.meta_ad_mapping
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ad_mapping_fatigue_delete
AFTER DELETE ON public.meta_ad_mapping
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER meta_ad_mapping_fatigue_truncate
AFTER TRUNCATE ON public.meta_ad_mapping
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER ad_fatigue_forgotten_delete
AFTER DELETE ON genome.ad_fatigue
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();
CREATE OR REPLACE TRIGGER ad_fatigue_forgotten_truncate
AFTER TRUNCATE ON genome.ad_fatigue
FOR EACH STATEMENT EXECUTE FUNCTION genome._fatigue_mark_changes();

-- The daily frequency's inverse is three Newton steps in detect_fatigue's query: as a
-- PL/pgSQL function its call per delivered day cost a 20,000-ad brand's assessment more than
-- a second.
DROP FUNCTION IF EXISTS genome._exposure_per_person(double precision);

-- A one-SELECT SQL function without SET or STRICT, over pg_catalog built-ins only: the planner
-- inlines it into the query (no per-row call), as genome._ad_empirical_logit.
CREATE OR REPLACE FUNCTION genome._exposure_newton_step(p_frequency double precision, p_exposure double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT p_exposure - (p_exposure - p_frequency * (1.0 - exp(-p_exposure)))
        / (1.0 - p_frequency * exp(-p_exposure))
$$;
COMMENT ON FUNCTION genome._exposure_newton_step(double precision, double precision) IS
'Internal (detect_fatigue, docs/evolution.md#fatigue): one Newton step on g(x) = x - r (1 - e^-x) from x = p_exposure, r = p_frequency, toward the impressions per person x whose random-exposure frequency x / (1 - e^-x) is r. Inlined into genome.detect_fatigue.';

-- Three statements: (1) claim the markers of changed Meta ads and list the ads to read; (2) one
-- INSERT ... ON CONFLICT whose named CTEs are the stages (delivered days, the ads whose inputs
-- changed, their daily delivery, audience estimate, every calendar day of an ad's life,
-- cumulative and trailing window totals, decay and its interval, first fatigued day, each ad's
-- latest state): the window functions run over every changed ad's days at once and three later
-- stages read the cumulative rows, which as separate functions would be materialized and
-- re-joined; (3) mark again the Meta ads with days after p_now, which a later call must read.
--
-- Incremental (docs/evolution.md#fatigue): the ads read are those mapped to a Meta ad whose
-- rows or mapping were written since the last call (genome.fatigue_delivery_changes), those
-- assessed with days after p_now (an earlier p_now), and every mapped ad when the fatigue
-- settings differ from the last call's (genome.fatigue_state). Of those, an ad is assessed
-- again only when the fingerprint of what its assessment reads (its delivered days up to p_now
-- and the fatigue settings) differs from the one stored with its row; any other ad's row is
-- already what a new assessment would write.
CREATE OR REPLACE FUNCTION genome.detect_fatigue(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
-- The plan's estimates (generate_series over every ad's days) pass jit_above_cost while the
-- query runs in tens of milliseconds: JIT compilation cost ~0.5 s a call in a 45-day demo.
SET jit = off
AS $$
DECLARE
    v_drop double precision := genome._setting_num('fatigue_ctr_drop');
    v_freq double precision := genome._setting_num('fatigue_frequency_threshold');
    v_base integer := genome._setting_num('fatigue_baseline_days')::integer;
    v_win integer := genome._setting_num('fatigue_window_days')::integer;
    v_min double precision := genome._setting_num('fatigue_min_impressions');
    v_settings bigint;
    v_every boolean;
    v_ads uuid [];
    v_rows integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF NOT (v_drop > 0 AND v_drop < 1 AND v_freq >= 1 AND v_base >= 1 AND v_win >= 1 AND v_min >= 0) THEN
        RAISE EXCEPTION 'fatigue settings out of range (0 < fatigue_ctr_drop < 1, fatigue_frequency_threshold >= 1, windows >= 1 day)'
            USING ERRCODE = 'GN090';
    END IF;
    v_settings := hashtextextended(concat_ws('|', v_drop, v_freq, v_base, v_win, v_min), 0);

    -- 1. The ads to read. The claim is a DELETE: it waits for a writer still holding a marker
    -- (the trigger updates it), and the statements after it see that writer's rows. Other
    -- settings than the last call's (or no last call): every mapped ad.
    v_every := NOT EXISTS (SELECT 1 FROM genome.fatigue_state AS fs WHERE fs.settings_hash = v_settings);
    WITH claimed AS (
        DELETE FROM genome.fatigue_delivery_changes AS c
        RETURNING c.brand_id, c.meta_ad_id
    )

    SELECT array_agg(DISTINCT m.generated_ad_id) INTO v_ads
    FROM public.meta_ad_mapping AS m
    WHERE m.generated_ad_id IS NOT NULL
      AND (
          v_every
          OR (m.brand_id, m.meta_ad_id) IN (SELECT cl.brand_id, cl.meta_ad_id FROM claimed AS cl)
          OR m.generated_ad_id IN (
              SELECT af.generated_ad_id FROM genome.ad_fatigue AS af WHERE af.last_date > p_now::date
          )
      );
    v_ads := coalesce(v_ads, '{}');

    -- 2. Their assessment.
    WITH delivered AS (
        -- Delivered days of the ads to read (attributed through meta_ad_mapping), up to p_now.
        SELECT
            m.generated_ad_id AS ad_id,
            p.date,
            sum(p.impressions)::double precision AS imps,
            sum(coalesce(p.link_clicks, 0))::double precision AS clicks,
            -- Daily frequency: impressions per person reached that day.
            sum(p.impressions)::double precision / nullif(sum(coalesce(
                p.reach::double precision, p.impressions / nullif(p.frequency, 0)::double precision
            )), 0) AS day_freq
        FROM public.meta_ad_mapping AS m
        -- Only the mapped ad's brand's insights (docs/security.md#tenant-data).
        INNER JOIN public.meta_ads_performance AS p
            ON p.meta_ad_id = m.meta_ad_id AND p.brand_id = m.brand_id
        WHERE m.generated_ad_id = ANY (v_ads)
          AND p.date <= p_now::date
          AND p.impressions > 0
        GROUP BY m.generated_ad_id, p.date
    ),

    changed AS (
        -- The ads whose inputs differ from those of their stored assessment (or that have
        -- none): new days, restated days, days beyond an earlier p_now, other settings. The
        -- fingerprint is order-free (XOR of one hash per delivered day, and of the settings).
        SELECT fp.ad_id, fp.inputs_hash
        FROM (
            SELECT
                d.ad_id,
                bit_xor(hashtextextended(concat_ws('|', d.date, d.imps, d.clicks, d.day_freq), 0))
                # v_settings AS inputs_hash
            FROM delivered AS d
            GROUP BY d.ad_id
        ) AS fp
        LEFT JOIN genome.ad_fatigue AS af ON af.generated_ad_id = fp.ad_id
        WHERE af.inputs_hash IS DISTINCT FROM fp.inputs_hash
    ),

    daily AS (
        -- The delivered days of the changed ads only: every later stage works on these.
        SELECT d.*
        FROM delivered AS d
        INNER JOIN changed AS c ON c.ad_id = d.ad_id
    ),

    span AS (
        SELECT
            d.ad_id,
            min(d.date) AS first_date,
            max(d.date) AS last_date,
            -- Audience size from the daily reach: under random exposure reach = A (1 - e^(-x)),
            -- x = i / A, x from the day's frequency r = x / (1 - e^-x) (below); 1 / A by least
            -- squares through the origin of x on i.
            sum(d.imps * d.imps) / nullif(sum(d.imps * x3.x), 0) AS audience
        FROM daily AS d
        -- The inverse of r = x / (1 - e^-x) (docs/evolution.md#fatigue). The series
        -- x ~ 2y - 2y^2 / 3 (y = r - 1) it replaced is off by a fifth at r = 2 and negative past
        -- r = 4, where a small, heavily served audience made the estimate negative. Newton on
        -- g(x) = x - r (1 - e^-x), which is convex, from min(2y, r (1 - e^-r)), right of its
        -- root (g >= 0 at both), falls to the root monotonically: three steps are within
        -- 2e-8 of it (relative) from y = 0.001 up; below that the series, within 2.2e-7 (and
        -- Newton's last steps would divide by a difference lost to rounding); x = r past
        -- r = 40, where e^-x is below double precision; 0 when nobody saw the ad twice. (OFFSET
        -- 0: each step computed once per day, not its expression pasted into the next thrice.)
        CROSS JOIN LATERAL (SELECT greatest(coalesce(d.day_freq, 1.0), 1.0) AS r) AS fr
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN fr.r - 1.0 < 1e-3 THEN 2.0 * (fr.r - 1.0) - 2.0 * (fr.r - 1.0) ^ 2 / 3.0
                WHEN fr.r > 40.0 THEN fr.r
                ELSE least(2.0 * (fr.r - 1.0), fr.r * (1.0 - exp(-fr.r)))
            END AS x,
            fr.r - 1.0 >= 1e-3 AND fr.r <= 40.0 AS newton
            OFFSET 0
        ) AS x0
        CROSS JOIN LATERAL (
            SELECT CASE WHEN x0.newton THEN genome._exposure_newton_step(fr.r, x0.x) ELSE x0.x END AS x
            OFFSET 0
        ) AS x1
        CROSS JOIN LATERAL (
            SELECT CASE WHEN x0.newton THEN genome._exposure_newton_step(fr.r, x1.x) ELSE x1.x END AS x
            OFFSET 0
        ) AS x2
        CROSS JOIN LATERAL (
            SELECT CASE WHEN x0.newton THEN genome._exposure_newton_step(fr.r, x2.x) ELSE x2.x END AS x
            OFFSET 0
        ) AS x3
        GROUP BY d.ad_id
    ),

    dense AS (
        -- One row per calendar day of the ad's life (days without delivery count as zero).
        SELECT
            s.ad_id,
            s.audience,
            s.first_date,
            s.last_date,
            c.day::date AS date,
            (c.day::date - s.first_date) + 1 AS idx,
            coalesce(d.imps, 0) AS imps,
            coalesce(d.clicks, 0) AS clicks
        FROM span AS s
        CROSS JOIN LATERAL generate_series(s.first_date, s.last_date, interval '1 day') AS c (day)
        LEFT JOIN daily AS d ON d.ad_id = s.ad_id AND d.date = c.day::date
    ),

    cumulative AS (
        SELECT
            x.*,
            sum(x.imps) OVER w AS cum_imps,
            sum(x.clicks) OVER w AS cum_clicks
        FROM dense AS x
        WINDOW w AS (PARTITION BY x.ad_id ORDER BY x.date ROWS UNBOUNDED PRECEDING)
    ),

    with_base AS (
        SELECT
            c.*,
            max(c.cum_imps) FILTER (WHERE c.idx = v_base) OVER (PARTITION BY c.ad_id) AS base_imps,
            max(c.cum_clicks) FILTER (WHERE c.idx = v_base) OVER (PARTITION BY c.ad_id) AS base_clicks,
            lag(c.cum_imps, v_win) OVER (PARTITION BY c.ad_id ORDER BY c.date) AS lag_imps,
            lag(c.cum_clicks, v_win) OVER (PARTITION BY c.ad_id ORDER BY c.date) AS lag_clicks
        FROM cumulative AS c
    ),

    days AS (
        -- Every day after the first week: the trailing window (never overlapping the first
        -- week) against the first week, and the estimated lifetime frequency so far.
        SELECT
            b.ad_id,
            b.date,
            b.idx,
            greatest(b.first_date + v_base, b.date - v_win + 1) AS window_from,
            b.cum_imps - CASE WHEN b.idx - v_win >= v_base THEN b.lag_imps ELSE b.base_imps END AS w_imps,
            b.cum_clicks - CASE WHEN b.idx - v_win >= v_base THEN b.lag_clicks ELSE b.base_clicks END AS w_clicks,
            b.base_imps,
            b.base_clicks,
            CASE
                WHEN b.audience IS NULL THEN 1.0
                ELSE b.cum_imps / (b.audience * (1.0 - exp(greatest(-b.cum_imps / b.audience, -700.0))))
            END AS est_frequency
        FROM with_base AS b
        WHERE b.idx > v_base
    ),

    judged AS (
        SELECT
            d.*,
            -- No decay without a baseline click, no interval without a click on each side
            -- (an ad can go its first week without one).
            CASE WHEN d.base_clicks > 0 THEN 1.0 - (d.w_clicks / d.w_imps) / (d.base_clicks / d.base_imps) END
                AS decay,
            -- Delta-method standard error of log(CTR_window / CTR_first_week).
            CASE WHEN d.w_clicks > 0 AND d.base_clicks > 0 THEN sqrt(
                1.0 / d.w_clicks - 1.0 / d.w_imps + 1.0 / d.base_clicks - 1.0 / d.base_imps
            ) END AS log_se,
            d.base_imps >= v_min AND d.base_clicks > 0 AND d.w_imps >= v_min AND d.w_clicks > 0
                AS comparable
        FROM days AS d
        WHERE d.w_imps > 0 AND d.base_imps > 0
    ),

    flagged AS (
        SELECT
            j.*,
            -- (CASE, not AND: SQL does not promise to test comparable before the logarithm.)
            CASE WHEN j.comparable THEN
                j.decay >= v_drop
                -- The fall is more than noise: the 95% interval of the CTR ratio lies below 1.
                AND ln((j.w_clicks / j.w_imps) / (j.base_clicks / j.base_imps)) + 1.959964 * j.log_se < 0
                AND j.est_frequency >= v_freq
            ELSE false END AS fatigued
        FROM judged AS j
    ),

    first_fatigue AS (
        SELECT f.ad_id, min(f.date) AS fatigued_on
        FROM flagged AS f
        WHERE f.fatigued
        GROUP BY f.ad_id
    ),

    base AS (
        -- The first week's totals (or as much of it as there is), once per ad: a join, not a
        -- per-ad scan of the materialised cumulative rows.
        SELECT DISTINCT ON (c.ad_id)
            c.ad_id,
            c.cum_imps AS base_imps,
            c.cum_clicks AS base_clicks
        FROM cumulative AS c
        WHERE c.idx <= v_base
        ORDER BY c.ad_id, c.idx DESC
    ),

    latest AS (
        SELECT
            s.ad_id,
            s.first_date,
            s.last_date,
            s.audience,
            (s.last_date - s.first_date) + 1 AS age_days,
            base.base_imps,
            base.base_clicks,
            lf.window_from,
            lf.w_imps,
            lf.w_clicks,
            lf.decay,
            lf.log_se,
            lf.comparable,
            lt.cum_imps AS lifetime_imps,
            CASE
                WHEN s.audience IS NULL THEN 1.0
                ELSE lt.cum_imps / (s.audience * (1.0 - exp(greatest(-lt.cum_imps / s.audience, -700.0))))
            END AS est_frequency,
            ff.fatigued_on,
            ch.inputs_hash
        FROM span AS s
        INNER JOIN changed AS ch ON ch.ad_id = s.ad_id
        INNER JOIN cumulative AS lt ON lt.ad_id = s.ad_id AND lt.date = s.last_date
        LEFT JOIN base ON base.ad_id = s.ad_id
        LEFT JOIN flagged AS lf ON lf.ad_id = s.ad_id AND lf.date = s.last_date
        LEFT JOIN first_fatigue AS ff ON ff.ad_id = s.ad_id
    )

    INSERT INTO genome.ad_fatigue AS af (
        generated_ad_id, organization_id, brand_id, assessed_at, first_date, last_date, age_days,
        baseline_impressions, baseline_clicks, baseline_ctr, current_from, current_impressions,
        current_clicks, current_ctr, ctr_decay, ctr_decay_ci_lower, ctr_decay_ci_upper,
        lifetime_impressions, est_audience, est_frequency, status, fatigued_on, days_to_fatigue,
        inputs_hash
    )
    SELECT
        l.ad_id,
        b.organization_id,
        b.id,
        p_now,
        l.first_date,
        l.last_date,
        l.age_days,
        l.base_imps::bigint,
        l.base_clicks::bigint,
        l.base_clicks / nullif(l.base_imps, 0),
        l.window_from,
        coalesce(l.w_imps, 0)::bigint,
        coalesce(l.w_clicks, 0)::bigint,
        l.w_clicks / nullif(l.w_imps, 0),
        l.decay,
        -- Decay interval from the ratio interval (a higher ratio is a smaller decay).
        1.0 - exp(ln(nullif(1.0 - l.decay, 0)) + 1.959964 * l.log_se),
        1.0 - exp(ln(nullif(1.0 - l.decay, 0)) - 1.959964 * l.log_se),
        l.lifetime_imps::bigint,
        l.audience,
        l.est_frequency,
        CASE
            WHEN l.fatigued_on IS NOT NULL THEN 'fatigued'
            WHEN l.age_days <= v_base OR l.base_imps < v_min THEN 'warming_up'
            WHEN l.comparable AND l.decay >= v_drop THEN 'decaying'
            ELSE 'fresh'
        END,
        l.fatigued_on,
        (l.fatigued_on - l.first_date) + 1,
        l.inputs_hash
    FROM latest AS l
    INNER JOIN public.generated_ads AS g ON g.id = l.ad_id
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = r.product_id
    INNER JOIN public.brands AS b ON b.id = pr.brand_id
    ON CONFLICT (generated_ad_id) DO UPDATE
    SET assessed_at = excluded.assessed_at,
        first_date = excluded.first_date,
        last_date = excluded.last_date,
        age_days = excluded.age_days,
        baseline_impressions = excluded.baseline_impressions,
        baseline_clicks = excluded.baseline_clicks,
        baseline_ctr = excluded.baseline_ctr,
        current_from = excluded.current_from,
        current_impressions = excluded.current_impressions,
        current_clicks = excluded.current_clicks,
        current_ctr = excluded.current_ctr,
        ctr_decay = excluded.ctr_decay,
        ctr_decay_ci_lower = excluded.ctr_decay_ci_lower,
        ctr_decay_ci_upper = excluded.ctr_decay_ci_upper,
        lifetime_impressions = excluded.lifetime_impressions,
        est_audience = excluded.est_audience,
        est_frequency = excluded.est_frequency,
        status = excluded.status,
        fatigued_on = excluded.fatigued_on,
        days_to_fatigue = excluded.days_to_fatigue,
        inputs_hash = excluded.inputs_hash;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    -- 3. A Meta ad of the ads read with days after p_now: a later call reads it again.
    INSERT INTO genome.fatigue_delivery_changes AS c (brand_id, meta_ad_id)
    SELECT DISTINCT m.brand_id, m.meta_ad_id
    FROM public.meta_ad_mapping AS m
    WHERE m.generated_ad_id = ANY (v_ads)
      AND m.brand_id IS NOT NULL
      AND EXISTS (
          SELECT 1 FROM public.meta_ads_performance AS p
          WHERE p.brand_id = m.brand_id AND p.meta_ad_id = m.meta_ad_id AND p.date > p_now::date
      )
    ON CONFLICT (brand_id, meta_ad_id) DO NOTHING;
    INSERT INTO genome.fatigue_state AS fs (singleton, settings_hash, assessed_at)
    VALUES (true, v_settings, p_now)
    ON CONFLICT (singleton) DO UPDATE SET settings_hash = excluded.settings_hash, assessed_at = excluded.assessed_at;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome.detect_fatigue(timestamptz) IS
'Daily (job fatigue_refresh): assesses the launched ads (performance rows through meta_ad_mapping, dates <= p_now) whose inputs changed since their stored row into genome.ad_fatigue: ads without a row, and ads whose fingerprint of delivered days up to p_now (date, impressions, clicks, daily frequency) and fatigue settings differs from inputs_hash (new or restated days, an earlier p_now, other settings); the other rows already equal a new assessment (docs/evolution.md#fatigue). Baseline: the ad''s first fatigue_baseline_days days of delivery. For each later day: the CTR of the trailing fatigue_window_days (never overlapping the first week) against the baseline CTR, and the estimated lifetime frequency (lifetime impressions over the random-exposure reach of an audience estimated from the daily impressions / reach). An ad is fatigued from the first day on which, with at least fatigue_min_impressions in both windows, CTR fell by >= fatigue_ctr_drop, the 95% interval of the CTR ratio lies below 1, and the frequency passed fatigue_frequency_threshold; status warming_up / fresh / decaying (CTR fell but frequency or evidence not there yet) / fatigued, with fatigued_on and days_to_fatigue. Returns the number of ads assessed (changed). GN004 bad p_now, GN090 fatigue settings out of range.';
