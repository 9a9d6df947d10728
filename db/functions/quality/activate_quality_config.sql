-- A human turns a quality config version on (the previous one kept, inactive).

CREATE OR REPLACE FUNCTION genome.activate_quality_config(
    p_config_id uuid, p_approver text, p_now timestamptz DEFAULT now()
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_config genome.quality_scoring_config;
BEGIN
    PERFORM genome._require_now(p_now);
    IF p_approver IS NULL OR btrim(p_approver) = '' THEN
        RAISE EXCEPTION 'activating a quality config needs the approver''s name' USING ERRCODE = 'GN705';
    END IF;
    PERFORM genome._require_not_null(p_config_id, 'config_id');
    SELECT c.* INTO v_config FROM genome.quality_scoring_config AS c WHERE c.id = p_config_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown quality config %', p_config_id USING ERRCODE = 'GN704';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(
        format('genome.quality_config:%s:%s', v_config.organization_id, coalesce(v_config.brand_id::text, '')), 0
    ));
    UPDATE genome.quality_scoring_config AS c
    SET is_active = false
    WHERE
        c.organization_id = v_config.organization_id
        AND c.brand_id IS NOT DISTINCT FROM v_config.brand_id
        AND c.is_active
        AND c.id <> p_config_id;
    UPDATE genome.quality_scoring_config AS c
    SET is_active = true, approved_by = p_approver, activated_at = p_now
    WHERE c.id = p_config_id AND NOT c.is_active;
END
$$;
COMMENT ON FUNCTION genome.activate_quality_config(uuid, text, timestamptz) IS
'Makes quality config p_config_id the one active config of its (organization, brand): the previously active one is kept, inactive; the activated row records approved_by = p_approver and activated_at = p_now (from then on reviews use it, and its calibration window starts). An already active config is left as it is. Works for reactivating an older version too. Errors: GN004 NULL or infinite p_now; GN005 NULL config; GN704 unknown config; GN705 no approver.';
