-- The review agent finds its exemplars through the lease-checked definer function
-- genome.review_exemplars, so the agent role no longer reads ads, runs, products or
-- exemplars at all: the policies and column grants that the invoker similar_exemplars
-- needed are removed where an earlier genome migrate made them.
DROP POLICY IF EXISTS genome_agent_working ON public.generated_ads;
DROP POLICY IF EXISTS genome_agent_working ON public.ad_runs;
DROP POLICY IF EXISTS genome_agent_working ON public.products;
DROP POLICY IF EXISTS genome_agent_working ON genome.ad_quality_exemplars;
DROP FUNCTION IF EXISTS genome._agent_running_ads();

DO $$
BEGIN
    -- Roles are cluster-wide and made by the first migrate's security set-up.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'genome_agent') THEN
        REVOKE ALL ON public.generated_ads, public.ad_runs, public.products, genome.ad_quality_exemplars
        FROM genome_agent;
    END IF;
END
$$;
