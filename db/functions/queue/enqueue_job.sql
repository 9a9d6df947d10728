-- The queue's one writer is genome._enqueue_jobs (a batch, checked set-wise); the agents'
-- definer functions call it and its batch-of-one twin _enqueue_job; the app's entries
-- enqueue_job and enqueue_jobs are SECURITY DEFINER, owned by genome_api, so row-level
-- security of the caller's organization applies inside (docs/security.md#roles).
-- plan_ads' own batches came after the first release: the older signature goes.
DROP FUNCTION IF EXISTS genome._enqueue_jobs(text, uuid [], jsonb [], timestamptz);
CREATE OR REPLACE FUNCTION genome._enqueue_jobs(
    p_kind text,
    p_generated_ad_ids uuid [],
    p_payloads jsonb [] DEFAULT NULL,
    p_run_after timestamptz DEFAULT now(),
    p_planned boolean DEFAULT false
)
RETURNS uuid []
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_n integer := greatest(coalesce(cardinality(p_generated_ad_ids), 0), coalesce(cardinality(p_payloads), 0));
    v_largest jsonb;
    v_missing uuid;
    v_new uuid [];
    v_ids uuid [];
    v_max_attempts integer;
BEGIN
    -- Set-based (docs/operations.md#batches): every check is one statement over the batch
    -- and the jobs are one INSERT, so n jobs cost about one job's fixed cost plus n rows.
    SELECT p INTO v_largest FROM unnest(p_payloads) AS p ORDER BY octet_length(p::text) DESC NULLS LAST LIMIT 1;
    PERFORM genome._check_payload_size(v_largest::text, 'job payload');
    IF p_kind IS NULL OR NOT p_kind = ANY (genome._job_kinds()) THEN
        RAISE EXCEPTION 'unknown job kind %', coalesce(quote_literal(p_kind), 'NULL')
            USING ERRCODE = 'GN401',
                  HINT = 'kinds: ' || array_to_string(genome._job_kinds(), ', ');
    END IF;
    IF p_kind <> 'noop' AND (p_generated_ad_ids IS NULL OR array_position(p_generated_ad_ids, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'a % job needs a generated ad', p_kind USING ERRCODE = 'GN400';
    END IF;
    IF p_payloads IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest(p_payloads) AS p WHERE p IS NULL OR jsonb_typeof(p) <> 'object'
    ) THEN
        RAISE EXCEPTION 'job payload must be a JSON object' USING ERRCODE = 'GN400';
    END IF;
    IF p_generated_ad_ids IS NOT NULL AND p_payloads IS NOT NULL
       AND cardinality(p_generated_ad_ids) <> cardinality(p_payloads) THEN
        RAISE EXCEPTION 'a batch needs one payload per ad, got % ads and % payloads',
            cardinality(p_generated_ad_ids), cardinality(p_payloads)
            USING ERRCODE = 'GN400';
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
    IF v_n = 0 THEN
        RETURN '{}';
    END IF;

    IF p_planned THEN
        -- plan_ads' batch (docs/learning.md#selection): its ads were inserted by this
        -- transaction, so they exist and have no job yet, and their generate jobs were
        -- counted in their run's attempts under the run's lock. Only the organization's
        -- queue is left to check.
        PERFORM genome._check_job_limits(p_kind, p_generated_ad_ids, true);
    ELSIF p_generated_ad_ids IS NOT NULL THEN
        SELECT a INTO v_missing
        FROM unnest(p_generated_ad_ids) AS a
        WHERE a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.generated_ads AS g WHERE g.id = a)
        LIMIT 1;
        IF FOUND THEN
            PERFORM genome._require_ad(v_missing);
        END IF;
        -- New jobs, not repeats of an ad's job of this kind, count against their runs'
        -- attempts caps and their organizations' queues (docs/operations.md#queue-limits).
        v_new := ARRAY(
            SELECT DISTINCT a
            FROM unnest(p_generated_ad_ids) AS a
            WHERE a IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM genome.agent_jobs AS j WHERE j.generated_ad_id = a AND j.kind = p_kind
            )
        );
        IF cardinality(v_new) > 0 THEN
            PERFORM genome._check_job_limits(p_kind, v_new);
        END IF;
    END IF;

    -- Read once: a settings lookup in the INSERT's select list would run once per job.
    v_max_attempts := greatest(1, genome._setting_int('job_max_attempts'));
    v_ids := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, v_n));
    INSERT INTO genome.agent_jobs AS j (id, kind, generated_ad_id, payload, run_after, max_attempts)
    SELECT v_ids[b.i], p_kind, b.ad, coalesce(b.payload, '{}'), p_run_after, v_max_attempts
    FROM unnest(p_generated_ad_ids, p_payloads) WITH ORDINALITY AS b (ad, payload, i)
    ORDER BY b.i
    ON CONFLICT (generated_ad_id, kind) WHERE generated_ad_id IS NOT NULL DO NOTHING;

    IF p_generated_ad_ids IS NOT NULL AND NOT p_planned THEN
        -- An ad's job of this kind is the one just queued or the one it already had (which
        -- this statement sees, unlike the INSERT's, also when an ad came twice in the batch).
        v_ids := ARRAY(
            SELECT coalesce(j.id, v_ids[b.i])
            FROM unnest(p_generated_ad_ids) WITH ORDINALITY AS b (ad, i)
            LEFT JOIN genome.agent_jobs AS j ON j.generated_ad_id = b.ad AND j.kind = p_kind
            ORDER BY b.i
        );
    END IF;
    RETURN v_ids;
END
$$;
COMMENT ON FUNCTION genome._enqueue_jobs(text, uuid [], jsonb [], timestamptz, boolean) IS
'Internal: the body of genome.enqueue_jobs (its comment says what it does and raises), called by plan_ads and by _enqueue_job, the agents'' twin (their definer functions run with no organization set). p_planned: the batch is plan_ads'' generate jobs for the ads it inserted in this transaction after counting them in their run''s attempts under the run''s lock; the checks that hold by construction (the ads exist, have no job, fit their runs'' caps) are skipped and only the organization''s queue limit (GN414) and the arguments are checked.';

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
BEGIN
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call.
    RETURN (genome._enqueue_jobs(p_kind, ARRAY[p_generated_ad_id], ARRAY[p_payload], p_run_after))[1];
END
$$;
COMMENT ON FUNCTION genome._enqueue_job(text, uuid, jsonb, timestamptz) IS
'Internal: genome._enqueue_jobs with a batch of one, for the agents'' definer functions (they run as the owner, with no organization set); the body of genome.enqueue_job. Errors as enqueue_job.';

CREATE OR REPLACE FUNCTION genome.enqueue_jobs(
    p_kind text,
    p_generated_ad_ids uuid [],
    p_payloads jsonb [] DEFAULT NULL,
    p_run_after timestamptz DEFAULT now()
)
RETURNS uuid []
LANGUAGE sql
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT genome._enqueue_jobs(p_kind, p_generated_ad_ids, p_payloads, p_run_after)
$$;
COMMENT ON FUNCTION genome.enqueue_jobs(text, uuid [], jsonb [], timestamptz) IS
'Queue a batch of agent jobs of one kind in one statement and return their ids in the order given: job i is for p_generated_ad_ids[i] (NULL array: noop jobs without an ad) with payload p_payloads[i] (NULL array: {} for each). Idempotent per (ad, kind) as enqueue_job, checked set-wise (docs/operations.md#batches): the run''s attempts cap and the organization''s queue limit count the whole batch, and the agents get one NOTIFY per kind. Errors as enqueue_job: GN401 unknown kind; GN400 a missing ad (only noop jobs may have none), a payload not an object, ads and payloads of different lengths, or run_after not finite; GN006 unknown generated ad; GN012 generate jobs beyond a run''s counted attempts; GN414 an organization''s queue full (settings max_queued_jobs_per_organization); GN422 run_after too far ahead (settings job_max_delay_seconds, except for the owner); GN413 a payload larger than settings max_payload_bytes. Nothing is queued when any check fails.';

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
    SELECT genome._enqueue_job(p_kind, p_generated_ad_id, p_payload, p_run_after);
$$;
COMMENT ON FUNCTION genome.enqueue_job(text, uuid, jsonb, timestamptz) IS
'Queue an agent job for an ad and return its id (enqueue_jobs with a batch of one). Idempotent per (ad, kind): an existing job''s id is returned and nothing changes. max_attempts comes from settings job_max_attempts. Errors: GN401 unknown kind; GN400 missing ad (only noop jobs may have none), payload not an object, or run_after not finite; GN006 unknown generated ad; GN012 a generate job for an ad plan_ads did not plan (beyond its run''s attempts cap); GN414 new work for an organization whose queue is full (settings max_queued_jobs_per_organization); GN422 run_after further ahead than settings job_max_delay_seconds (except for the owner). GN413 an argument larger than settings max_payload_bytes (default 1 MiB).';
