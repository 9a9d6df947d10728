-- Weekly threshold calibration of the config that reviews a brand's ads (docs/quality.md#calibration).

CREATE OR REPLACE FUNCTION genome.calibrate_quality(p_brand_id uuid, p_now timestamptz DEFAULT now())
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_org uuid;
    v_config uuid;
BEGIN
    PERFORM genome._require_now(p_now);
    v_org := genome._require_brand(p_brand_id);
    -- The config that reviews the brand's ads: its own active one, else its organization's.
    SELECT c.id INTO v_config
    FROM genome.quality_scoring_config AS c
    WHERE c.organization_id = v_org AND c.is_active AND (c.brand_id = p_brand_id OR c.brand_id IS NULL)
    ORDER BY c.brand_id IS NULL
    LIMIT 1;
    IF v_config IS NULL THEN
        RAISE EXCEPTION 'organization % of brand % has no active quality config', v_org, p_brand_id
            USING ERRCODE = 'GN721';
    END IF;
    RETURN genome._calibrate_config(v_config, p_now);
END
$$;
COMMENT ON FUNCTION genome.calibrate_quality(uuid, timestamptz) IS
'Calibrates the quality config that reviews brand p_brand_id''s ads and returns the id of a NEW, INACTIVE version (nothing changes until genome.activate_quality_config). Which config: the brand''s own active config when it has one (a brand-level version is then written, learnt from that brand''s overrides only); otherwise the organization''s active config (an organization-level version is written, learnt from the overrides of every brand of the organization reviewed by it). Learns from the latest human decision per ad recorded since that config was activated (or scored under it), up to p_now; see genome._calibrate_config and genome._calibrate_thresholds for the FP + 2*FN grid search and the calibration_metrics written. Below settings calibration_min_overrides it writes nothing and RAISES GN720 saying how many overrides there are and how many are needed (the weekly genome.calibrate_all_quality only calibrates configs with enough). Errors: GN004 NULL or infinite p_now; GN005 NULL brand; GN001 unknown brand; GN720 too few overrides; GN721 no active config.';
