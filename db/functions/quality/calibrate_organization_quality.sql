-- Threshold calibration of an organization's own (brand-independent) quality config.

CREATE OR REPLACE FUNCTION genome.calibrate_organization_quality(
    p_organization_id uuid, p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_config uuid;
BEGIN
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_not_null(p_organization_id, 'organization_id');
    IF NOT EXISTS (SELECT 1 FROM public.organizations AS o WHERE o.id = p_organization_id) THEN
        RAISE EXCEPTION 'unknown organization %', p_organization_id USING ERRCODE = 'GN702';
    END IF;
    SELECT c.id INTO v_config
    FROM genome.quality_scoring_config AS c
    WHERE c.organization_id = p_organization_id AND c.brand_id IS NULL AND c.is_active;
    IF v_config IS NULL THEN
        RAISE EXCEPTION 'organization % has no active organization-level quality config', p_organization_id
            USING ERRCODE = 'GN721';
    END IF;
    RETURN genome._calibrate_config(v_config, p_now);
END
$$;
COMMENT ON FUNCTION genome.calibrate_organization_quality(uuid, timestamptz) IS
'Calibrates the organization-level active quality config of p_organization_id (the one that reviews every brand without a config of its own) and returns the id of a NEW, INACTIVE organization-level version; as genome.calibrate_quality otherwise. Errors: GN004 NULL or infinite p_now; GN005 NULL organization; GN702 unknown organization; GN720 fewer overrides than settings calibration_min_overrides (nothing written); GN721 no active organization-level config.';
