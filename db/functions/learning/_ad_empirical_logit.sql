-- One ad's empirical logit of its CTR and the binomial variance terms that
-- docs/attribution.md#ads-as-the-units sums per cell; shared by genome.attribute and
-- genome.interactions. A one-SELECT SQL function without SET or STRICT, so the planner inlines
-- it into the calling query (no per-row function call).
CREATE OR REPLACE FUNCTION genome._ad_empirical_logit(p_impressions bigint, p_clicks bigint)
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
    -- In double precision: numeric ln() would cost seconds per 100,000 rows.
    SELECT
        p_impressions::double precision,
        p_clicks::double precision + 0.5,
        (p_impressions - p_clicks)::double precision + 0.5,
        CASE WHEN p_impressions > 0 THEN ln(
            (p_clicks::double precision + 0.5) / ((p_impressions - p_clicks)::double precision + 0.5)
        ) END
$$;
COMMENT ON FUNCTION genome._ad_empirical_logit(bigint, bigint) IS
'Internal (docs/attribution.md#ads-as-the-units): for one ad''s impressions n and clicks k, n as a double, k + 0.5, n - k + 0.5 (their reciprocals sum to the empirical logit''s binomial variance) and the empirical logit ln((k + 0.5) / (n - k + 0.5)), NULL without impressions. Inlined into genome.attribute and genome.interactions.';
