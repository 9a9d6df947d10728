CREATE OR REPLACE FUNCTION genome._require_server_time(p_now timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    PERFORM genome._require_now(p_now);
    -- Leases, reaping and backoff follow the server's clock for the agents: a caller-chosen
    -- p_now would reap live leases or stall jobs (docs/attacks.md#agents-and-the-queue).
    IF p_now <> now() AND NOT genome._caller_is_owner() THEN
        RAISE EXCEPTION 'p_now is reserved to the owner: agents run on the server clock'
            USING ERRCODE = 'GN420';
    END IF;
    RETURN p_now;
END
$$;
COMMENT ON FUNCTION genome._require_server_time(timestamptz) IS
'Internal: the agent functions'' p_now check. GN004 when p_now is NULL or infinite; GN420 when a caller other than the owner (genome._caller_is_owner) passes a p_now other than now(): virtual time is for the simulator and tests. See docs/errors.md.';
