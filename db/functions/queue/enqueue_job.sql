CREATE OR REPLACE FUNCTION genome._enqueue_job(
    p_kind text,
    p_generated_ad_id uuid,
    p_payload jsonb DEFAULT '{}',
    p_run_after timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM genome._check_payload_size(p_payload::text, 'job payload');
    IF p_kind IS NULL OR NOT p_kind = ANY (genome._job_kinds()) THEN
        RAISE EXCEPTION 'unknown job kind %', coalesce(quote_literal(p_kind), 'NULL')
            USING ERRCODE = 'GN401',
                  HINT = 'kinds: ' || array_to_string(genome._job_kinds(), ', ');
    END IF;
    IF p_generated_ad_id IS NULL AND p_kind <> 'noop' THEN
        RAISE EXCEPTION 'a % job needs a generated ad', p_kind USING ERRCODE = 'GN400';
    END IF;
    IF p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN
        RAISE EXCEPTION 'job payload must be a JSON object' USING ERRCODE = 'GN400';
    END IF;
    IF p_run_after IS NULL OR NOT isfinite(p_run_after) THEN
        RAISE EXCEPTION 'run_after must be a finite time' USING ERRCODE = 'GN400';
    END IF;
    -- A job scheduled for 2200 would sit in the queue forever; the owner's simulator may
    -- schedule in virtual time (docs/attacks.md#agents-and-the-queue).
    IF p_run_after > now() + make_interval(secs => genome._setting_num('job_max_delay_seconds'))
       AND NOT genome._caller_is_owner() THEN
        RAISE EXCEPTION 'run_after must be at most % seconds ahead (settings job_max_delay_seconds)',
            genome._setting_num('job_max_delay_seconds')
            USING ERRCODE = 'GN422';
    END IF;
    IF p_generated_ad_id IS NOT NULL THEN
        PERFORM genome._require_ad(p_generated_ad_id);
        -- A new job, not a repeat of this ad's job of this kind, counts against the run's
        -- attempts cap and the organization's queue (docs/operations.md#queue-limits).
        IF NOT EXISTS (
            SELECT 1 FROM genome.agent_jobs AS j
            WHERE j.generated_ad_id = p_generated_ad_id AND j.kind = p_kind
        ) THEN
            PERFORM genome._check_job_limits(p_kind, p_generated_ad_id);
        END IF;
    END IF;

    INSERT INTO genome.agent_jobs AS j (kind, generated_ad_id, payload, run_after, max_attempts)
    VALUES (
        p_kind, p_generated_ad_id, p_payload, p_run_after,
        greatest(1, genome._setting_int('job_max_attempts'))
    )
    ON CONFLICT (generated_ad_id, kind) WHERE generated_ad_id IS NOT NULL DO NOTHING
    RETURNING j.id INTO v_id;

    IF v_id IS NULL THEN
        SELECT j.id INTO v_id
        FROM genome.agent_jobs AS j
        WHERE j.generated_ad_id = p_generated_ad_id AND j.kind = p_kind;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome._enqueue_job(text, uuid, jsonb, timestamptz) IS
'Internal: the body of genome.enqueue_job, for the agents'' definer functions (they run as the owner, with no organization set). Queue an agent job for an ad and return its id. Idempotent per (ad, kind): an existing job''s id is returned and nothing changes. max_attempts comes from settings job_max_attempts. Errors: GN401 unknown kind; GN400 missing ad (only noop jobs may have none), payload not an object, or run_after not finite; GN006 unknown generated ad; GN012 a generate job for an ad plan_ads did not plan (beyond its run''s attempts cap); GN414 new work for an organization whose queue is full (settings max_queued_jobs_per_organization); GN422 run_after further ahead than settings job_max_delay_seconds (except for the owner). GN413 an argument larger than settings max_payload_bytes (default 1 MiB).';

-- The app's entry (SECURITY DEFINER, owned by genome_api, docs/security.md#roles): row-level
-- security of the caller's organization applies inside; the agents call the twin.
CREATE OR REPLACE FUNCTION genome.enqueue_job(
    p_kind text,
    p_generated_ad_id uuid,
    p_payload jsonb DEFAULT '{}',
    p_run_after timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE sql
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT genome._enqueue_job(p_kind, p_generated_ad_id, p_payload, p_run_after)
$$;
COMMENT ON FUNCTION genome.enqueue_job(text, uuid, jsonb, timestamptz) IS
'Queue an agent job for an ad and return its id. Idempotent per (ad, kind): an existing job''s id is returned and nothing changes. max_attempts comes from settings job_max_attempts. Errors: GN401 unknown kind; GN400 missing ad (only noop jobs may have none), payload not an object, or run_after not finite; GN006 unknown generated ad; GN012 a generate job for an ad plan_ads did not plan (beyond its run''s attempts cap); GN414 new work for an organization whose queue is full (settings max_queued_jobs_per_organization); GN422 run_after further ahead than settings job_max_delay_seconds (except for the owner). GN413 an argument larger than settings max_payload_bytes (default 1 MiB).';
