-- The per-ad signature came first; the set-based one (enqueue_jobs) replaces it, and then
-- the one that knows when plan_ads has counted the attempts itself.
DROP FUNCTION IF EXISTS genome._check_job_limits(text, uuid);
DROP FUNCTION IF EXISTS genome._check_job_limits(text, uuid []);

CREATE OR REPLACE FUNCTION genome._check_job_limits(
    p_kind text, p_generated_ad_ids uuid [], p_attempts_counted boolean DEFAULT false
)
RETURNS void
LANGUAGE plpgsql
SET search_path = genome, public
-- Planning these joins took several times as long as running them (about 8 ms against 1 ms
-- a call in the demo), and the plan cache kept choosing a custom plan on every call: the
-- generic plan (index lookups of the batch's ads and of the queued jobs) is planned once.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_limit bigint := genome._setting_int('max_queued_jobs_per_organization');
    v_bad record;
BEGIN
    -- Every generate job is one of the run's attempts, counted by plan_ads: an ad inserted
    -- directly gets no model call the cap did not count. The runs are locked in a fixed
    -- order (concurrent batches over the same runs cannot deadlock), then each run's
    -- generate jobs, those queued before and these new ones, are counted once.
    -- p_attempts_counted: plan_ads planned these ads in this transaction, under their run's
    -- lock, after counting them in attempts_count (docs/operations.md#queue-limits).
    IF p_kind = 'generate' AND NOT p_attempts_counted THEN
        PERFORM 1
        FROM public.ad_runs AS r
        WHERE r.id IN (
            SELECT g.ad_run_id FROM public.generated_ads AS g WHERE g.id = ANY (p_generated_ad_ids)
        )
        ORDER BY r.id
        FOR UPDATE;
        SELECT r.id, r.attempts_count INTO v_bad
        FROM (
            SELECT g.ad_run_id, count(*) AS n_new
            FROM public.generated_ads AS g
            WHERE g.id = ANY (p_generated_ad_ids)
            GROUP BY g.ad_run_id
        ) AS nw
        INNER JOIN public.ad_runs AS r ON r.id = nw.ad_run_id
        WHERE nw.n_new + (
            SELECT count(*)
            FROM genome.agent_jobs AS j
            INNER JOIN public.generated_ads AS g ON g.id = j.generated_ad_id
            WHERE g.ad_run_id = r.id AND j.kind = 'generate'
        ) > r.attempts_count
        ORDER BY r.id
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ad_run % has used % of its % generation attempts; the ad was not planned by plan_ads',
                v_bad.id, v_bad.attempts_count, v_bad.attempts_count
                USING ERRCODE = 'GN012',
                      HINT = 'plan ads with genome.plan_ads, which counts each against the run''s max_attempts';
        END IF;
    END IF;

    -- New work waits its turn in its own organization's queue only: an organization with
    -- max_queued_jobs_per_organization jobs queued starts nothing new until they drain. A
    -- follow-on job (the ad has a job running, which queues the next stage) is never refused,
    -- so work in progress always finishes. A batch is checked whole: it is refused when its
    -- new jobs would take the queue past the limit, as the same jobs queued one by one.
    -- The organizations are the tenant keys the ads and jobs carry (kept equal to their
    -- brand's organization by the tenant-key triggers, docs/security.md#row-level-security), so
    -- neither side joins up through runs, products and brands: the queued jobs are read from
    -- the queue's partial index of queued jobs, once per call, at one row each.
    WITH nw AS (
        SELECT
            g.tenant_organization_id AS organization_id,
            count(*) AS n_new,
            bool_or(NOT EXISTS (
                SELECT 1 FROM genome.agent_jobs AS j
                WHERE j.generated_ad_id = g.id AND j.status = 'running'
            )) AS has_new_work
        FROM public.generated_ads AS g
        WHERE g.id = ANY (p_generated_ad_ids)
        GROUP BY g.tenant_organization_id
    ),

    q AS (
        SELECT j.tenant_organization_id AS organization_id, count(*) AS queued
        FROM genome.agent_jobs AS j
        WHERE j.status = 'queued'
          AND j.tenant_organization_id IN (SELECT nw.organization_id FROM nw WHERE nw.has_new_work)
        GROUP BY j.tenant_organization_id
    )

    SELECT nw.organization_id, nw.n_new, coalesce(q.queued, 0) AS queued INTO v_bad
    FROM nw
    LEFT JOIN q ON q.organization_id = nw.organization_id
    WHERE nw.has_new_work AND coalesce(q.queued, 0) + nw.n_new > v_limit
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the organization has % queued jobs, the limit is %', v_bad.queued, v_limit
            USING ERRCODE = 'GN414',
                  HINT = 'settings max_queued_jobs_per_organization; plan more once the queue drains';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._check_job_limits(text, uuid [], boolean) IS
'Internal (enqueue_jobs, for ads'' new jobs of a kind, checked as one batch): GN012 when a run''s generate jobs would exceed its counted attempts (ad_runs.attempts_count, which plan_ads raises before queueing: an ad not planned gets no model call; not checked again with p_attempts_counted, plan_ads'' own batch); GN414 when the new jobs would take their organization past settings max_queued_jobs_per_organization queued jobs, unless every one of them is a follow-on of an ad with a job running (work in progress always finishes), so one organization cannot starve the others. docs/operations.md#queue-limits.';
