-- Off-policy evaluation from the logged propensities (docs/learning.md#off-policy-evaluation).

CREATE OR REPLACE FUNCTION genome.evaluate_policy(
    p_brand_id uuid,
    p_policy jsonb,
    p_now timestamptz,
    p_metric text DEFAULT 'reward'
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_bad text;
    v_result jsonb;
BEGIN
    PERFORM genome._check_brand_product(p_brand_id, NULL);
    PERFORM genome._require_now(p_now);
    IF p_metric IS NULL OR p_metric NOT IN ('reward', 'ctr') THEN
        RAISE EXCEPTION 'metric must be reward or ctr, got %', coalesce(p_metric, 'NULL')
            USING ERRCODE = 'GN111';
    END IF;

    -- The policy: per element dimension, a probability for each of its values (summing to 1).
    IF p_policy IS NULL OR jsonb_typeof(p_policy) <> 'object' OR p_policy = '{}'::jsonb THEN
        RAISE EXCEPTION 'policy must be a non-empty object {dimension: {value: probability}}'
            USING ERRCODE = 'GN110';
    END IF;
    SELECT string_agg(problem, '; ') INTO v_bad
    FROM (
        SELECT format('%s is not an element dimension', d.key) AS problem
        FROM jsonb_each(p_policy) AS d
        WHERE NOT EXISTS (
            SELECT 1 FROM genome.element_dimensions AS ed
            WHERE ed.dimension = d.key AND ed.kind = 'element'
        )
        UNION ALL
        SELECT format('%s: probabilities must be an object', d.key)
        FROM jsonb_each(p_policy) AS d
        WHERE jsonb_typeof(d.value) <> 'object'
        UNION ALL
        SELECT format('%s = %s: unknown value or not a probability', d.key, v.key)
        FROM jsonb_each(p_policy) AS d
        CROSS JOIN LATERAL jsonb_each(
            CASE WHEN jsonb_typeof(d.value) = 'object' THEN d.value ELSE '{}'::jsonb END
        ) AS v
        WHERE
            jsonb_typeof(v.value) <> 'number'
            OR (v.value)::text::float8 NOT BETWEEN 0 AND 1
            OR NOT EXISTS (
                SELECT 1 FROM genome.element_values AS ev
                WHERE ev.dimension = d.key AND ev.value = v.key
            )
        UNION ALL
        SELECT format('%s: probabilities sum to %s, not 1', d.key, round(s.total::numeric, 6))
        FROM jsonb_each(p_policy) AS d
        CROSS JOIN LATERAL (
            SELECT sum((v.value)::text::float8) AS total
            FROM jsonb_each(
                CASE WHEN jsonb_typeof(d.value) = 'object' THEN d.value ELSE '{}'::jsonb END
            ) AS v
            WHERE jsonb_typeof(v.value) = 'number'
        ) AS s
        WHERE abs(coalesce(s.total, 0) - 1) > 1e-6
    ) AS problems;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'invalid policy: %', v_bad USING ERRCODE = 'GN110';
    END IF;

    WITH logged AS (
        -- Matured, planned ads of the brand with a logged propensity for every dimension
        -- the policy sets (imported ads were not chosen by a logged policy).
        SELECT
            r.generated_ad_id,
            CASE p_metric
                WHEN 'reward' THEN r.reward_score
                ELSE r.total_clicks::float8 / nullif(r.total_impressions, 0)
            END AS y,
            g.element_tags,
            -- plan_ads logs the selection record; its per-dimension propensities:
            g.element_propensities -> 'propensities' AS propensities
        FROM genome.creative_element_rewards AS r
        JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
        WHERE
            r.brand_id = p_brand_id
            AND r.matured_at <= p_now
            AND NOT r.is_imported
            AND g.element_propensities ? 'propensities'
    ),
    factors AS (
        -- Per ad and policy dimension: target probability and logged propensity of its value.
        SELECT
            l.generated_ad_id,
            l.y,
            d.key AS dimension,
            l.element_tags ->> d.key AS value,
            coalesce((p_policy -> d.key ->> (l.element_tags ->> d.key))::float8, 0) AS target,
            (l.propensities ->> d.key)::float8 AS logged_p
        FROM logged AS l
        CROSS JOIN jsonb_object_keys(p_policy) AS d (key)
    ),
    weights AS (
        SELECT
            f.generated_ad_id,
            max(f.y) AS y,
            CASE
                WHEN bool_or(f.target = 0) THEN 0.0
                -- (the aggregate is computed for every ad whatever the CASE picks: ln of a
                -- zero target would raise, so it is left out)
                ELSE exp(sum(ln(nullif(f.target, 0)) - ln(f.logged_p)))
            END AS w
        FROM factors AS f
        GROUP BY f.generated_ad_id
        HAVING bool_and(f.logged_p > 0) AND bool_and(f.y IS NOT NULL)
    ),
    policy_values AS (
        -- Every value of each dimension the policy sets, numbered in a fixed order, with
        -- its target probability (0 where the policy names none).
        SELECT
            d.key AS dimension,
            ev.value,
            row_number() OVER (PARTITION BY d.key ORDER BY ev.value)::integer AS place,
            coalesce((p_policy -> d.key ->> ev.value)::float8, 0) AS target
        FROM jsonb_object_keys(p_policy) AS d (key)
        INNER JOIN genome.element_values AS ev ON ev.dimension = d.key
    ),
    raked AS (
        -- The weights raked to the policy's value shares in every dimension it sets
        -- (docs/learning.md#off-policy-evaluation): the ads with a positive weight, each
        -- with its values' places, dimensions in code-point order.
        SELECT e.*
        FROM (
            SELECT
                array_agg(w.y ORDER BY w.generated_ad_id) AS ys,
                array_agg(w.w ORDER BY w.generated_ad_id) AS ws
            FROM weights AS w
            WHERE w.w > 0
        ) AS a
        CROSS JOIN (
            SELECT array_agg(pv.place ORDER BY f.generated_ad_id, f.dimension COLLATE "C") AS codes
            FROM factors AS f
            INNER JOIN weights AS w ON w.generated_ad_id = f.generated_ad_id AND w.w > 0
            INNER JOIN policy_values AS pv ON pv.dimension = f.dimension AND pv.value = f.value
        ) AS c
        CROSS JOIN (
            SELECT
                (SELECT array_agg(x.n ORDER BY x.dimension COLLATE "C")
                 FROM (SELECT pv.dimension, count(*)::integer AS n
                       FROM policy_values AS pv GROUP BY pv.dimension) AS x) AS sizes,
                (SELECT array_agg(pv.target ORDER BY pv.dimension COLLATE "C", pv.place)
                 FROM policy_values AS pv) AS targets
        ) AS d
        CROSS JOIN LATERAL genome._raked_estimate(a.ys, a.ws, c.codes, d.sizes, d.targets) AS e
    ),
    sums AS (
        SELECT
            count(*) AS n,
            count(*) FILTER (WHERE w.w > 0) AS n_weighted,
            avg(w.y) AS logged_mean,
            avg(w.w * w.y) AS ips,
            stddev_samp(w.w * w.y) / sqrt(count(*)) AS ips_se,
            sum(w.w) AS sum_w,
            sum(w.w * w.w) AS sum_w2,
            sum(w.w * w.y) AS sum_wy,
            sum(w.w * w.y) / nullif(sum(w.w), 0) AS snips
        FROM weights AS w
    ),
    snips_jackknife AS (
        -- The self-normalised estimate without each ad in turn (docs/learning.md#off-policy-evaluation),
        -- its variance (n - 1)/n Σ (loo - mean)²: where a few ads carry most of the weight,
        -- the delta method's residuals are small exactly at those ads, and its interval
        -- covered the truth in 81.5% of simulated brands; the jackknife leaves each out.
        SELECT sqrt((count(*) - 1) * var_pop(l.loo)) AS snips_se
        FROM (
            SELECT (s.sum_wy - w.w * w.y) / (s.sum_w - w.w) AS loo
            FROM weights AS w CROSS JOIN sums AS s
            WHERE s.n_weighted >= 2
        ) AS l
        HAVING count(*) >= 2
    ),
    quantile AS (
        -- Student t at the effective sample size less one: as wide as a sample of that
        -- many ads would be, whatever n is.
        SELECT e.ess, e.df, genome._t_quantile(0.975, e.df) AS t
        FROM sums AS s
        CROSS JOIN LATERAL (
            SELECT
                s.sum_w ^ 2 / s.sum_w2 AS ess,
                greatest(s.sum_w ^ 2 / s.sum_w2 - 1, 1) AS df
        ) AS e
        WHERE s.sum_w2 > 0
    ),
    raked_quantile AS (
        -- The same t at the raked weights' own effective sample size.
        SELECT genome._t_quantile(0.975, greatest(r.effective_sample_size - 1, 1)) AS t
        FROM raked AS r
        WHERE r.effective_sample_size IS NOT NULL
    )
    SELECT jsonb_build_object(
        'metric', p_metric,
        'n', s.n,
        'logged_mean', s.logged_mean,
        'effective_sample_size', q.ess,
        'interval_df', q.df,
        'ips', jsonb_build_object(
            'estimate', s.ips, 'se', s.ips_se, 'lower', b.ips_lower, 'upper', b.ips_upper
        ),
        'snips', jsonb_build_object(
            'estimate', s.snips, 'se', v.snips_se, 'lower', b.snips_lower, 'upper', b.snips_upper
        ),
        'raked', jsonb_build_object(
            'estimate', rk.estimate, 'se', rk.se, 'lower', b.raked_lower, 'upper', b.raked_upper,
            'effective_sample_size', rk.effective_sample_size,
            'unlogged_mass', rk.unlogged_mass
        )
    )
    INTO v_result
    FROM sums AS s
    LEFT JOIN snips_jackknife AS v ON true
    LEFT JOIN quantile AS q ON true
    LEFT JOIN raked AS rk ON true
    LEFT JOIN raked_quantile AS rq ON true
    CROSS JOIN LATERAL (
        -- Both metrics lie in [0, 1] (reward_score by its check, a CTR by definition): a
        -- t interval of a few heavy ads can reach past either end, and is cut there.
        SELECT
            -- (no t when every weight is 0: the policy chose nothing any ad carries)
            CASE WHEN q.t IS NOT NULL THEN greatest(s.ips - q.t * s.ips_se, 0) END AS ips_lower,
            CASE WHEN q.t IS NOT NULL THEN least(s.ips + q.t * s.ips_se, 1) END AS ips_upper,
            CASE WHEN v.snips_se IS NOT NULL THEN greatest(s.snips - q.t * v.snips_se, 0) END
                AS snips_lower,
            CASE WHEN v.snips_se IS NOT NULL THEN least(s.snips + q.t * v.snips_se, 1) END
                AS snips_upper,
            CASE WHEN rk.se IS NOT NULL THEN greatest(rk.estimate - rq.t * rk.se, 0) END
                AS raked_lower,
            CASE WHEN rk.se IS NOT NULL THEN least(rk.estimate + rq.t * rk.se, 1) END
                AS raked_upper
    ) AS b;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION genome.evaluate_policy(uuid, jsonb, timestamptz, text) IS
'Off-policy evaluation (docs/learning.md#off-policy-evaluation): what another selection policy would have earned on the brand''s matured planned ads, from the propensities logged at planning (the propensities of the selection record in generated_ads.element_propensities). p_policy gives per element dimension the probability of each value (dimensions it leaves out are kept as logged); each ad is weighted by the product over those dimensions of target probability / logged propensity. Returns n, logged_mean, effective_sample_size ((sum w)^2 / sum w^2), interval_df (effective_sample_size - 1, at least 1), and the inverse-propensity (ips) and self-normalised (snips) estimates of the mean metric (reward_score, or ctr = clicks / impressions) with standard errors (ips: of the weighted terms; snips: the jackknife over ads) and 95% Student-t intervals at interval_df degrees of freedom, cut to [0, 1]; and raked: the weights raked to the policy''s value shares in every dimension it sets (genome._raked_estimate: entropy calibration), its estimate, jackknife se, 95% Student-t interval at its own effective_sample_size less one, and unlogged_mass (the largest share the policy gives, in one dimension, to values no weighted ad carries). raked is the one to read: the plain weights lean toward the values the logging policy chose (docs/learning.md#off-policy-evaluation). GN001 bad brand, GN004 bad p_now, GN110 invalid policy, GN111 unknown metric.';
