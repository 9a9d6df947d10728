-- The shared argument checks: each raises the one code of its condition (docs/errors.md).
-- The id checks look rows up as the caller, so row-level security applies: for genome_app
-- another organization's id is as unknown as a random one (docs/errors.md#unknown-ids).

CREATE OR REPLACE FUNCTION genome._require_not_null(p_value anyelement, p_name text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'GN005';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_not_null(anyelement, text) IS
'Internal: GN005 when the required argument p_value (named p_name in the message) is NULL. See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_brand(p_brand_id uuid)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_org uuid;
BEGIN
    PERFORM genome._require_not_null(p_brand_id, 'brand_id');
    SELECT b.organization_id INTO v_org FROM public.brands AS b WHERE b.id = p_brand_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown brand %', p_brand_id USING ERRCODE = 'GN001';
    END IF;
    RETURN v_org;
END
$$;
COMMENT ON FUNCTION genome._require_brand(uuid) IS
'Internal: returns the organization of brand p_brand_id. GN005 NULL brand; GN001 unknown brand (or, under row-level security, a brand of another organization). See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._check_brand_product(p_brand_id uuid, p_product_id uuid)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_org uuid;
    v_product_brand uuid;
BEGIN
    v_org := genome._require_brand(p_brand_id);
    IF p_product_id IS NOT NULL THEN
        SELECT p.brand_id INTO v_product_brand FROM public.products AS p WHERE p.id = p_product_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown product %', p_product_id USING ERRCODE = 'GN002';
        END IF;
        IF v_product_brand <> p_brand_id THEN
            RAISE EXCEPTION 'product % belongs to brand %, not to brand %',
                p_product_id, v_product_brand, p_brand_id
                USING ERRCODE = 'GN003';
        END IF;
    END IF;
    RETURN v_org;
END
$$;
COMMENT ON FUNCTION genome._check_brand_product(uuid, uuid) IS
'Internal: validates a brand (genome._require_brand) and an optional product of that brand; returns the organization. GN005 NULL brand, GN001 unknown brand, GN002 unknown product, GN003 product of another brand. See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_ad(p_generated_ad_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_not_null(p_generated_ad_id, 'generated_ad_id');
    IF NOT EXISTS (SELECT 1 FROM public.generated_ads AS g WHERE g.id = p_generated_ad_id) THEN
        RAISE EXCEPTION 'unknown generated ad %', p_generated_ad_id USING ERRCODE = 'GN006';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_ad(uuid) IS
'Internal: GN005 NULL ad id; GN006 unknown generated ad (or, under row-level security, an ad of another organization). See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_run(p_ad_run_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_not_null(p_ad_run_id, 'ad_run_id');
    IF NOT EXISTS (SELECT 1 FROM public.ad_runs AS r WHERE r.id = p_ad_run_id) THEN
        RAISE EXCEPTION 'unknown ad_run %', p_ad_run_id USING ERRCODE = 'GN010';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_run(uuid) IS
'Internal: GN005 NULL run id; GN010 unknown ad_run (or, under row-level security, a run of another organization). See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_now(p_now timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_now IS NULL OR NOT isfinite(p_now) THEN
        RAISE EXCEPTION 'p_now must be a finite timestamp, got %', coalesce(p_now::text, 'NULL')
            USING ERRCODE = 'GN004';
    END IF;
    RETURN p_now;
END
$$;
COMMENT ON FUNCTION genome._require_now(timestamptz) IS 'Internal: GN004 when p_now is NULL or infinite. See docs/errors.md.';

CREATE OR REPLACE FUNCTION genome._require_helper_size(p_what text, p_size bigint, p_setting text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_limit bigint := genome._setting_num(p_setting)::bigint;
BEGIN
    -- Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
    IF p_size > v_limit THEN
        RAISE EXCEPTION '% is too large for a numeric helper: % (at most %, settings %)',
            p_what, p_size, v_limit, p_setting
            USING ERRCODE = 'GN031';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_helper_size(text, bigint, text) IS
'Internal: GN031 when an input of a numeric helper (p_what: rows, Monte Carlo samples) of size p_size exceeds the setting p_setting (helper_max_rows, helper_max_samples), so no caller makes one call allocate or compute without bound. See docs/errors.md.';
