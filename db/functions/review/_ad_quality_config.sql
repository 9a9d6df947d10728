CREATE OR REPLACE FUNCTION genome._ad_quality_config(p_generated_ad_id uuid)
RETURNS genome.quality_scoring_config
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT c.*
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    INNER JOIN genome.quality_scoring_config AS c
        ON
            b.organization_id = c.organization_id
            AND c.is_active
            AND (c.brand_id = b.id OR c.brand_id IS NULL)
    WHERE g.id = p_generated_ad_id
    ORDER BY c.brand_id IS NULL, c.activated_at DESC NULLS LAST
    LIMIT 1;
$$;
COMMENT ON FUNCTION genome._ad_quality_config(uuid) IS
'Internal: the active quality_scoring_config that reviews an ad, found through ad -> ad_run -> product -> brand -> organization: the brand''s own active row first, else the organization''s. NULL when there is none.';
