-- The human decisions a calibration of one quality config learns from.

CREATE OR REPLACE FUNCTION genome._calibration_overrides(p_config_id uuid, p_now timestamptz)
RETURNS TABLE (
    override_id uuid,
    generated_ad_id uuid,
    brand_id uuid,
    ai_status text,
    ai_check_scores jsonb,
    human_status text,
    created_at timestamptz,
    complete boolean
)
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT DISTINCT ON (o.generated_ad_id)
        o.id,
        o.generated_ad_id,
        p.brand_id,
        o.ai_status,
        o.ai_check_scores,
        o.human_status,
        o.created_at,
        jsonb_typeof(o.ai_check_scores) IS NOT DISTINCT FROM 'object'
        AND NOT EXISTS (
            SELECT 1
            FROM jsonb_object_keys(c.check_weights) AS k (code)
            WHERE jsonb_typeof(o.ai_check_scores -> k.code) IS DISTINCT FROM 'number'
        ) AS complete
    FROM genome.quality_scoring_config AS c
    INNER JOIN genome.ad_review_overrides AS o ON c.organization_id = o.organization_id
    INNER JOIN public.generated_ads AS g ON o.generated_ad_id = g.id
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE
        c.id = p_config_id
        AND o.created_at <= p_now
        AND (o.config_id = c.id OR o.created_at > c.activated_at)
        AND CASE
            WHEN c.brand_id IS NOT NULL THEN p.brand_id = c.brand_id
            ELSE NOT EXISTS (
                SELECT 1
                FROM genome.quality_scoring_config AS bc
                WHERE
                    bc.organization_id = c.organization_id
                    AND bc.brand_id = p.brand_id
                    AND bc.is_active
            )
        END
    ORDER BY o.generated_ad_id, o.created_at DESC, o.id DESC;
$$;
COMMENT ON FUNCTION genome._calibration_overrides(uuid, timestamptz) IS
'Internal: the overrides a calibration of config p_config_id learns from, the latest human decision per ad. In scope: the ads the config reviews (a brand-level config: its brand''s ads; an organization-level config: the ads of the organization''s brands that have no active config of their own). In the window: recorded at or before p_now, and either scored under this config (config_id) or recorded after it was activated (so a seeded default, activated on the wall clock, still learns from overrides made in a simulator''s virtual time). complete: the AI''s check scores hold a number for every check of the config (only complete rows are learnt from).';
