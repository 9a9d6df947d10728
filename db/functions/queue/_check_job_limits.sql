CREATE OR REPLACE FUNCTION genome._check_job_limits(p_kind text, p_generated_ad_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_run uuid;
    v_attempts integer;
    v_organization uuid;
    v_queued bigint;
    v_limit bigint := genome._setting_int('max_queued_jobs_per_organization');
BEGIN
    SELECT r.id, r.attempts_count, b.organization_id INTO v_run, v_attempts, v_organization
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = r.product_id
    INNER JOIN public.brands AS b ON b.id = pr.brand_id
    WHERE g.id = p_generated_ad_id;

    -- Every generate job is one of the run's attempts, counted by plan_ads: an ad inserted
    -- directly gets no model call the cap did not count.
    IF p_kind = 'generate' THEN
        PERFORM 1 FROM public.ad_runs AS r WHERE r.id = v_run FOR UPDATE;
        IF (
            SELECT count(*)
            FROM genome.agent_jobs AS j
            INNER JOIN public.generated_ads AS g ON g.id = j.generated_ad_id
            WHERE g.ad_run_id = v_run AND j.kind = 'generate'
        ) >= v_attempts THEN
            RAISE EXCEPTION 'ad_run % has used % of its % generation attempts; the ad was not planned by plan_ads',
                v_run, v_attempts, v_attempts
                USING ERRCODE = 'GN012',
                      HINT = 'plan ads with genome.plan_ads, which counts each against the run''s max_attempts';
        END IF;
    END IF;

    -- New work waits its turn in its own organization's queue only: an organization with
    -- max_queued_jobs_per_organization jobs queued starts nothing new until they drain. A
    -- follow-on job (the ad has a job running, which queues the next stage) is never refused,
    -- so work in progress always finishes.
    IF NOT EXISTS (
        SELECT 1 FROM genome.agent_jobs AS j
        WHERE j.generated_ad_id = p_generated_ad_id AND j.status = 'running'
    ) THEN
        SELECT count(*) INTO v_queued
        FROM genome.agent_jobs AS j
        INNER JOIN public.generated_ads AS g ON g.id = j.generated_ad_id
        INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
        INNER JOIN public.products AS pr ON pr.id = r.product_id
        INNER JOIN public.brands AS b ON b.id = pr.brand_id
        WHERE j.status = 'queued' AND b.organization_id = v_organization;
        IF v_queued >= v_limit THEN
            RAISE EXCEPTION 'the organization has % queued jobs, the limit is %', v_queued, v_limit
                USING ERRCODE = 'GN414',
                      HINT = 'settings max_queued_jobs_per_organization; plan more once the queue drains';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION genome._check_job_limits(text, uuid) IS
'Internal (enqueue_job, for an ad''s new job): GN012 when a generate job would exceed its run''s counted attempts (ad_runs.attempts_count, which plan_ads raises before queueing: an ad not planned gets no model call); GN414 when the ad''s organization already has settings max_queued_jobs_per_organization jobs queued and the ad has no job running (follow-on stages of work in progress are never refused), so one organization cannot starve the others. docs/operations.md#queue-limits.';
