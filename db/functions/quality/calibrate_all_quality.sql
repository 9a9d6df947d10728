-- The weekly quality_calibration job: every active config with enough new overrides.

CREATE OR REPLACE FUNCTION genome.calibrate_all_quality(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_due record;
    v_written integer := 0;
    v_error text;
BEGIN
    PERFORM genome._require_now(p_now);
    -- Due: an active config (organization- or brand-level) with at least the minimum of usable
    -- overrides, and an override newer than those its latest calibration already used.
    FOR v_due IN
        SELECT c.id, c.organization_id, c.brand_id, c.version
        FROM genome.quality_scoring_config AS c
        CROSS JOIN LATERAL (
            SELECT
                count(*) FILTER (WHERE o.complete) AS n,
                max(o.created_at) FILTER (WHERE o.complete) AS last_at
            FROM genome._calibration_overrides(c.id, p_now) AS o
        ) AS ov
        CROSS JOIN LATERAL (
            SELECT max((k.calibration_metrics ->> 'last_override_at')::timestamptz) AS used_until
            FROM genome.quality_scoring_config AS k
            WHERE k.parent_config_id = c.id
        ) AS prev
        WHERE
            c.is_active
            AND ov.n >= genome._setting_num('calibration_min_overrides')
            AND (prev.used_until IS NULL OR ov.last_at > prev.used_until)
        ORDER BY c.organization_id, c.brand_id NULLS FIRST
    LOOP
        -- One organization's failure is reported and skipped, never the whole job's.
        BEGIN
            PERFORM genome._calibrate_config(v_due.id, p_now);
            v_written := v_written + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
            RAISE WARNING 'quality calibration of config % (organization %, brand %) failed: %',
                v_due.version, v_due.organization_id, coalesce(v_due.brand_id::text, 'all'), v_error;
        END;
    END LOOP;
    RETURN v_written;
END
$$;
COMMENT ON FUNCTION genome.calibrate_all_quality(timestamptz) IS
'The weekly quality_calibration job (genome.run_job): for every active quality config, organization- or brand-level, with at least settings calibration_min_overrides usable overrides in its window (genome._calibration_overrides) and at least one newer than the overrides its latest calibrated child used, writes a new inactive calibrated version (genome._calibrate_config). Running it again with no new overrides writes nothing. A config whose calibration fails is skipped with a WARNING (its own changes rolled back) and the others go on. Returns the number of versions written. Errors: GN004 NULL or infinite p_now.';
