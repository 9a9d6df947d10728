CREATE OR REPLACE FUNCTION genome.claim_jobs(
    p_kinds text [],
    p_worker text,
    p_lease interval,
    p_max integer,
    p_now timestamptz DEFAULT now()
)
RETURNS SETOF genome.agent_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_unknown text [];
    -- Read once: in the check below it was read again for every kind asked for (six
    -- times a claim of the agents' default kinds).
    v_kinds text [] := genome._job_kinds();
BEGIN
    IF p_kinds IS NULL OR cardinality(p_kinds) = 0 THEN
        RAISE EXCEPTION 'claim_jobs needs at least one job kind' USING ERRCODE = 'GN400';
    END IF;
    SELECT array_agg(k) INTO v_unknown
    FROM unnest(p_kinds) AS k
    WHERE k IS NULL OR NOT k = ANY (v_kinds);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown job kind(s) %', v_unknown
            USING ERRCODE = 'GN401',
                  HINT = 'kinds: ' || array_to_string(v_kinds, ', ');
    END IF;
    IF p_worker IS NULL OR btrim(p_worker) = '' THEN
        RAISE EXCEPTION 'claim_jobs needs a worker name' USING ERRCODE = 'GN400';
    END IF;
    PERFORM genome._require_lease(p_lease);
    IF p_max IS NULL OR p_max < 1 THEN
        RAISE EXCEPTION 'p_max must be at least 1, got %', p_max USING ERRCODE = 'GN400';
    END IF;
    PERFORM genome._require_server_time(p_now);

    RETURN QUERY
    WITH picked AS (
        SELECT j.id
        FROM genome.agent_jobs AS j
        WHERE j.status = 'queued' AND j.kind = ANY (p_kinds) AND j.run_after <= p_now
        -- Retried jobs first (a reaped job's ad has waited a lease already), then later
        -- stages, so ads already in the pipeline finish before new ones start.
        -- (stage_rank comes from genome.agent_job_kinds; agent_jobs_claim_order_idx serves it)
        ORDER BY (j.attempts > 0) DESC, j.stage_rank DESC, j.run_after, j.created_at, j.id
        LIMIT p_max
        FOR UPDATE SKIP LOCKED
    ),

    claimed AS (
        UPDATE genome.agent_jobs AS j
        SET status = 'running',
            attempts = j.attempts + 1,
            leased_by = p_worker,
            -- A fresh secret per lease: every later call on the job must present it.
            lease_token = gen_random_uuid(),
            leased_until = p_now + p_lease,
            updated_at = p_now
        FROM picked
        WHERE j.id = picked.id
        RETURNING j.*
    ),

    logged AS (
        INSERT INTO genome.agent_job_attempts (agent_job_id, attempt, worker, claimed_at)
        SELECT c.id, c.attempts, p_worker, p_now
        FROM claimed AS c
    )

    -- In the FROM list, not as (genome._job_for_worker(c)).*: that form calls the function
    -- once per column of the row (16 times a job).
    SELECT w.* FROM claimed AS c CROSS JOIN LATERAL genome._job_for_worker(c) AS w;
END
$$;
COMMENT ON FUNCTION genome.claim_jobs(text [], text, interval, integer, timestamptz) IS
'Claim up to p_max queued jobs of the given kinds whose run_after has come (FOR UPDATE SKIP LOCKED; jobs tried before first, then later pipeline stages): each becomes running, leased to p_worker until p_now + p_lease under a fresh random lease_token (returned in the row: every later call on the job must present it), attempts + 1, and an agent_job_attempts row is opened. The rows come back without earlier workers'' names (genome._job_for_worker). Errors: GN400 no kinds, empty worker, non-positive lease, or p_max < 1; GN004 bad p_now; GN401 unknown kind; GN420 p_now other than now() from a caller other than the owner; GN421 lease longer than settings job_max_lease_seconds.';
