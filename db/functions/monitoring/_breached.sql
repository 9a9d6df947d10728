-- Threshold comparison of genome.alert_thresholds rows.

CREATE OR REPLACE FUNCTION genome._breached(
    p_value double precision,
    p_comparison text,
    p_threshold numeric
)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = genome, public
AS $$
    SELECT CASE
        WHEN p_value IS NULL OR p_threshold IS NULL THEN false
        WHEN p_comparison = '<' THEN p_value < p_threshold
        WHEN p_comparison = '>' THEN p_value > p_threshold
        ELSE false
    END;
$$;
COMMENT ON FUNCTION genome._breached(double precision, text, numeric) IS
'Internal: whether a metric value breaches a threshold in the direction of genome.alert_thresholds.comparison; a NULL value or threshold never breaches.';

CREATE OR REPLACE FUNCTION genome._monitoring_min_ads()
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v double precision := genome._setting_num('monitoring_min_ads');
BEGIN
    IF v IS NULL OR v < 1 THEN
        RAISE EXCEPTION 'setting monitoring_min_ads must be >= 1, got %', v USING ERRCODE = 'GN090';
    END IF;
    RETURN v::integer;
END
$$;
COMMENT ON FUNCTION genome._monitoring_min_ads() IS
'Internal: the monitoring_min_ads setting, checked. GN090: below 1.';
