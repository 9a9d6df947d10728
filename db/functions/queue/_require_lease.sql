CREATE OR REPLACE FUNCTION genome._require_lease(p_lease interval)
RETURNS interval
LANGUAGE plpgsql
STABLE
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    IF p_lease IS NULL OR p_lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be a positive interval, got %', p_lease USING ERRCODE = 'GN400';
    END IF;
    -- A lease longer than any reaper's patience holds a job forever
    -- (docs/attacks.md#agents-and-the-queue).
    IF p_lease > make_interval(secs => genome._setting_num('job_max_lease_seconds')) THEN
        RAISE EXCEPTION 'lease must be at most % seconds (settings job_max_lease_seconds)',
            genome._setting_num('job_max_lease_seconds')
            USING ERRCODE = 'GN421';
    END IF;
    RETURN p_lease;
END
$$;
COMMENT ON FUNCTION genome._require_lease(interval) IS
'Internal: a claim''s or heartbeat''s lease. GN400 when NULL or not positive; GN421 when longer than settings job_max_lease_seconds. See docs/errors.md.';
