-- Days to fatigue per element combination: an exponential survival fit over the brand's
-- launched ads that carry the combination (fatigued ads are events, the others censored).

CREATE OR REPLACE FUNCTION genome.predict_fatigue(p_brand_id uuid)
RETURNS TABLE (
    combo_key text,
    combo_size integer,
    dimensions text [],
    element_values text [],
    n_ads integer,
    n_fatigued integer,
    days_at_risk double precision,
    median_days_to_fatigue double precision,
    ci_lower double precision,
    ci_upper double precision,
    ci_level double precision
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
-- A brand's few hundred ads: JIT compilation (seconds) costs more than it saves here.
SET jit = off
AS $$
DECLARE
    v_base integer := genome._setting_num('fatigue_baseline_days')::integer;
    v_level double precision := genome._setting_num('fatigue_ci_level');
    v_min integer := genome._setting_num('fatigue_min_ads')::integer;
BEGIN
    PERFORM genome._require_brand(p_brand_id);
    IF NOT (v_level > 0 AND v_level < 1) THEN
        RAISE EXCEPTION 'setting fatigue_ci_level must lie in (0, 1), got %', v_level USING ERRCODE = 'GN090';
    END IF;

    RETURN QUERY
    WITH ads AS (
        -- Time at risk starts after the first week: fatigue cannot be seen before it.
        SELECT
            af.generated_ad_id AS ad_id,
            (af.status = 'fatigued')::integer AS event,
            greatest(coalesce(af.days_to_fatigue, af.age_days) - v_base, 0)::double precision AS at_risk
        FROM genome.ad_fatigue AS af
        WHERE af.brand_id = p_brand_id AND af.status <> 'warming_up'
    ),

    tags AS (
        -- Per ad its element values as two arrays sorted by dimension (a tag object has
        -- each dimension once), so the pairs and triples below are positions i < j < k of
        -- one ad's arrays: linear in the ads, where joining the tags to themselves was a
        -- nested loop over every ad's tags whenever the row-level security policies made
        -- the planner expect one row. unnest, not generate_series: the planner expects 10
        -- elements of an array but 1,000 rows of a series (a cost that started JIT).
        SELECT
            a.ad_id,
            a.event,
            a.at_risk,
            array_agg(t.key ORDER BY t.key) AS dims,
            array_agg(t.value #>> '{}' ORDER BY t.key) AS vals
        FROM ads AS a
        INNER JOIN public.generated_ads AS g ON g.id = a.ad_id
        CROSS JOIN LATERAL jsonb_each(g.element_tags) AS t
        INNER JOIN genome.element_dimensions AS d ON d.dimension = t.key AND d.kind = 'element'
        GROUP BY a.ad_id, a.event, a.at_risk
    ),

    positions AS (
        -- The positions i < j (< k) of an ad's arrays, up to the most dimensions an ad has:
        -- subscripts, not three unnests per ad (an unnest per ad and position was 80 of a
        -- call's 170 ms for 530 ads by day 90 of the demo). k = 0 marks a pair.
        SELECT p.i, p.j, p.k
        FROM (SELECT max(cardinality(t.dims)) AS m FROM tags AS t) AS mx
        CROSS JOIN LATERAL (
            SELECT x.i, y.j, z.k
            FROM unnest(ARRAY(SELECT generate_series(1, mx.m))) AS x (i)
            CROSS JOIN unnest(ARRAY(SELECT generate_series(1, mx.m))) AS y (j)
            CROSS JOIN unnest(ARRAY(SELECT generate_series(0, mx.m))) AS z (k)
            WHERE y.j > x.i AND (z.k = 0 OR z.k > y.j)
        ) AS p
    ),

    combos AS (
        SELECT a.ad_id, a.event, a.at_risk, ARRAY[]::text [] AS dims, ARRAY[]::text [] AS vals
        FROM ads AS a
        UNION ALL
        SELECT
            t.ad_id,
            t.event,
            t.at_risk,
            CASE WHEN p.k = 0 THEN ARRAY[t.dims[p.i], t.dims[p.j]] ELSE ARRAY[t.dims[p.i], t.dims[p.j], t.dims[p.k]] END,
            CASE WHEN p.k = 0 THEN ARRAY[t.vals[p.i], t.vals[p.j]] ELSE ARRAY[t.vals[p.i], t.vals[p.j], t.vals[p.k]] END
        FROM tags AS t
        INNER JOIN positions AS p ON greatest(p.j, p.k) <= cardinality(t.dims)
    ),

    grouped AS (
        SELECT
            row_number() OVER (ORDER BY c.dims, c.vals)::integer AS i,
            c.dims,
            c.vals,
            count(*)::integer AS n,
            sum(c.event)::integer AS d,
            sum(c.at_risk) AS t
        FROM combos AS c
        GROUP BY c.dims, c.vals
        HAVING count(*) >= v_min
    ),

    arrays AS (
        SELECT
            array_agg(g.d::double precision ORDER BY g.i) AS d,
            array_agg(g.t ORDER BY g.i) AS t
        FROM grouped AS g
    ),

    fits AS (
        SELECT s.*
        FROM arrays AS a
        CROSS JOIN LATERAL genome._exp_survival(a.d, a.t, v_level) AS s
        WHERE a.d IS NOT NULL
    )

    SELECT
        CASE
            WHEN cardinality(g.dims) = 0 THEN '*'
            ELSE array_to_string(ARRAY(SELECT x.d || '=' || x.v FROM unnest(g.dims, g.vals) AS x (d, v)), '|')
        END,
        cardinality(g.dims),
        g.dims,
        g.vals,
        g.n,
        g.d,
        g.t,
        CASE WHEN f.rate > 0 THEN v_base + ln(2.0) / f.rate END,
        CASE WHEN f.rate_upper > 0 THEN v_base + ln(2.0) / f.rate_upper END,
        CASE WHEN f.rate_lower > 0 THEN v_base + ln(2.0) / f.rate_lower END,
        v_level
    FROM grouped AS g
    INNER JOIN fits AS f ON f.idx = g.i
    ORDER BY cardinality(g.dims) DESC, g.d DESC, g.n DESC, 1;
END
$$;
COMMENT ON FUNCTION genome.predict_fatigue(uuid) IS
'Days from first delivery to fatigue per element combination of the brand (all combinations of 2 and 3 element values its assessed ads carry, with at least fatigue_min_ads ads, plus ''*'' for all its ads), from the latest genome.detect_fatigue: an exponential survival fit of the time at risk after the first week (fatigued ads are events at days_to_fatigue, the others censored at their age). median_days_to_fatigue = fatigue_baseline_days + ln 2 / rate, with the exact interval at fatigue_ci_level (ci_upper NULL and no median while no ad of the combination has fatigued: ci_lower is then a lower bound). Most specific combinations first. GN005 NULL brand, GN001 unknown brand, GN090 bad fatigue_ci_level.';
