-- One ad's empirical logit of its CTR and the binomial variance terms that
-- docs/attribution.md#ads-as-the-units sums per cell; shared by genome.attribute and
-- genome.interactions. A one-SELECT SQL function without SET or STRICT, so the planner inlines
-- it into the calling query (no per-row function call).

-- Before the exposure in double precision (docs/attribution.md#fatigue).
DROP FUNCTION IF EXISTS genome._ad_empirical_logit(bigint, bigint);
CREATE OR REPLACE FUNCTION genome._ad_empirical_logit(
    p_exposure double precision, p_clicks double precision
)
RETURNS TABLE (
    n double precision,
    kh double precision,
    mh double precision,
    logit double precision
)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- In double precision: numeric ln() would cost seconds per 100,000 rows. An exposure
    -- adjusted for fatigue below the clicks (a small ad's noise) counts as the clicks.
    SELECT
        greatest(p_exposure, p_clicks),
        p_clicks + 0.5,
        greatest(p_exposure - p_clicks, 0) + 0.5,
        CASE WHEN p_exposure > 0 THEN ln((p_clicks + 0.5) / (greatest(p_exposure - p_clicks, 0) + 0.5)) END
$$;
COMMENT ON FUNCTION genome._ad_empirical_logit(double precision, double precision) IS
'Internal (docs/attribution.md#ads-as-the-units): for one ad''s exposure n (its impressions, or their fresh equivalent, docs/attribution.md#fatigue; at least its clicks) and clicks k, n, k + 0.5, n - k + 0.5 (their reciprocals sum to the empirical logit''s binomial variance) and the empirical logit ln((k + 0.5) / (n - k + 0.5)), NULL without exposure. Inlined into genome.attribute and genome.interactions.';

-- Each ad's fatigue as the joint learner fitted it (docs/attribution.md#fatigue).
CREATE OR REPLACE FUNCTION genome._frequency_exposure_factors(p_brand_id uuid)
RETURNS TABLE (generated_ad_id uuid, exposure_factor double precision)
LANGUAGE sql
STABLE
-- So the callers' scans of a brand's rewards can still run in parallel workers.
PARALLEL SAFE
AS $$
    -- exp() here, once per ad with a factor, not in the callers' per-row expressions: an
    -- inlined function's argument is computed again wherever the body uses it.
    SELECT u.generated_ad_id, exp(u.log_factor)
    FROM genome.learner_posteriors AS lp
    CROSS JOIN LATERAL unnest(lp.frequency_ad_ids, lp.frequency_log_factors) AS u (generated_ad_id, log_factor)
    WHERE lp.brand_id = p_brand_id AND lp.frequency_ad_ids IS NOT NULL
$$;
COMMENT ON FUNCTION genome._frequency_exposure_factors(uuid) IS
'Internal (docs/attribution.md#fatigue): per ad of the brand whose evidence carried a frequency offset at the joint learner''s last fit (genome.learner_posteriors.frequency_ad_ids), exp of its log factor: impressions x exposure_factor is the exposure a fresh ad would have needed for the same expected clicks. Ads not listed carried none. Inlined into genome.attribute and genome.interactions.';

-- The variance one ad's empirical logit carries (docs/attribution.md#one-ad-one-vote), shared
-- by genome.attribute and genome.interactions.
CREATE OR REPLACE FUNCTION genome._ad_logit_variance(
    p_within_ss double precision, p_df double precision,
    p_binomial_sum double precision, p_ads double precision
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- Ads alike to the click would say the spread is nothing; each logit's binomial
    -- variance is still there.
    SELECT greatest(p_within_ss / nullif(p_df, 0), p_binomial_sum / nullif(p_ads, 0))
$$;
COMMENT ON FUNCTION genome._ad_logit_variance(
    double precision, double precision, double precision, double precision
) IS
'Internal (docs/attribution.md#one-ad-one-vote): from the ads'' empirical logits, their within-cell sum of squares p_within_ss on p_df degrees of freedom and the sum p_binomial_sum of their binomial variances over p_ads ads: the pooled within-cell variance, at least the mean binomial variance (NULL when both are undefined). Inlined into genome.attribute and genome.interactions.';
