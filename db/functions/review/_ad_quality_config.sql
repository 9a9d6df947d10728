CREATE OR REPLACE FUNCTION genome._ad_quality_config(p_generated_ad_id uuid)
RETURNS genome.quality_scoring_config
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_config genome.quality_scoring_config;
BEGIN
    -- docs/experiments.md#generation-ab-tests: a run in a generation A/B arm that names a
    -- review_rubric_version is reviewed under that version of the organization's configs
    -- (active or not), so two arms with different rubrics decide differently on the same
    -- images; every other ad under the active config.
    -- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
    -- (about 8 ms for this six-table join against 0.3 ms to run it); PL/pgSQL keeps the plan
    -- for the session.
    WITH ad AS (
        SELECT
            b.id AS brand_id,
            b.organization_id,
            CASE r.experiment_group
                WHEN 'control' THEN e.control_config
                WHEN 'variant' THEN e.variant_config
            END ->> 'review_rubric_version' AS arm_rubric
        FROM public.generated_ads AS g
        INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
        INNER JOIN public.products AS p ON r.product_id = p.id
        INNER JOIN public.brands AS b ON p.brand_id = b.id
        LEFT JOIN genome.generation_experiments AS e ON e.id = r.experiment_id
        WHERE g.id = p_generated_ad_id
    )

    SELECT c.* INTO v_config
    FROM ad
    INNER JOIN genome.quality_scoring_config AS c
        ON
            ad.organization_id = c.organization_id
            AND (c.brand_id = ad.brand_id OR c.brand_id IS NULL)
            AND (c.is_active OR c.version = ad.arm_rubric)
    ORDER BY
        c.version IS DISTINCT FROM ad.arm_rubric,
        c.brand_id IS NULL,
        c.activated_at DESC NULLS LAST
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN v_config;
END
$$;
COMMENT ON FUNCTION genome._ad_quality_config(uuid) IS
'Internal: the quality_scoring_config that reviews an ad, found through ad -> ad_run -> product -> brand -> organization. When the ad''s run is in a generation A/B arm whose config names review_rubric_version (docs/experiments.md#generation-ab-tests), the organization''s config of that version (the brand''s own row first, active or not); otherwise the active config: the brand''s own active row first, else the organization''s. NULL when there is none.';
