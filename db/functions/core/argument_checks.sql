-- Lookups that walk the app's ownership chain: ad -> ad_run -> product -> brand -> organization.

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
    IF p_brand_id IS NULL THEN
        RAISE EXCEPTION 'brand_id must not be NULL' USING ERRCODE = 'GN001';
    END IF;
    SELECT b.organization_id INTO v_org FROM public.brands AS b WHERE b.id = p_brand_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown brand %', p_brand_id USING ERRCODE = 'GN001';
    END IF;
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
'Internal: validates a brand (and optional product of that brand); returns the organization. GN001 unknown/NULL brand, GN002 unknown product, GN003 product of another brand.';

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
COMMENT ON FUNCTION genome._require_now(timestamptz) IS 'Internal: GN004 when p_now is NULL or infinite.';
