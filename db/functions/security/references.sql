-- References between tenant rows stay inside one brand or organization
-- (docs/security.md#tenant-data). Row-level security checks each tenant key against its
-- parent, but not a table's reference to a row of its own table (its policy would recurse)
-- nor which brand a Meta ad id belongs to: these triggers do. They run as the caller, so for
-- genome_app a row of another organization is as invisible as a random id, and both get
-- the same GN951 before the foreign key is checked.

CREATE OR REPLACE FUNCTION genome._meta_ad_mapping_brand()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_brand uuid;
BEGIN
    SELECT pr.brand_id INTO v_brand
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
    INNER JOIN public.products AS pr ON pr.id = r.product_id
    WHERE g.id = new.generated_ad_id;
    -- An ad the caller cannot see is row-level security's to refuse.
    IF v_brand IS NULL THEN
        RETURN new;
    END IF;
    IF new.brand_id IS NOT NULL AND new.brand_id <> v_brand THEN
        RAISE EXCEPTION 'meta_ad_mapping must link an ad of its own brand'
            USING ERRCODE = 'GN951',
                  HINT = 'leave meta_ad_mapping.brand_id empty: it is the generated ad''s brand';
    END IF;
    new.brand_id := v_brand;
    RETURN new;
END
$$;
COMMENT ON FUNCTION genome._meta_ad_mapping_brand() IS
'Trigger on public.meta_ad_mapping (before insert or update): sets brand_id to the brand of the mapped generated ad (ad_run -> product), so collection reads the Meta ad''s insights only from that brand''s performance rows. GN951 when a given brand_id is another brand; a mapping of an ad the caller cannot see is left to row-level security, which refuses it.';

CREATE OR REPLACE TRIGGER meta_ad_mapping_brand
BEFORE INSERT OR UPDATE OF generated_ad_id, brand_id ON public.meta_ad_mapping
FOR EACH ROW EXECUTE FUNCTION genome._meta_ad_mapping_brand();


CREATE OR REPLACE FUNCTION genome._same_organization_parent()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_same boolean;
BEGIN
    IF TG_TABLE_NAME = 'generated_ads' THEN
        -- A row the caller may not write at all is row-level security's to refuse.
        IF new.parent_ad_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM public.ad_runs AS r WHERE r.id = new.ad_run_id) THEN
            RETURN new;
        END IF;
        SELECT b_child.organization_id = b_parent.organization_id INTO v_same
        FROM public.generated_ads AS parent
        INNER JOIN public.ad_runs AS r_parent ON r_parent.id = parent.ad_run_id
        INNER JOIN public.products AS p_parent ON p_parent.id = r_parent.product_id
        INNER JOIN public.brands AS b_parent ON b_parent.id = p_parent.brand_id
        CROSS JOIN public.ad_runs AS r_child
        INNER JOIN public.products AS p_child ON p_child.id = r_child.product_id
        INNER JOIN public.brands AS b_child ON b_child.id = p_child.brand_id
        WHERE parent.id = new.parent_ad_id AND r_child.id = new.ad_run_id;
    ELSE
        IF new.parent_config_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM public.organizations AS o WHERE o.id = new.organization_id) THEN
            RETURN new;
        END IF;
        SELECT parent.organization_id = new.organization_id INTO v_same
        FROM genome.quality_scoring_config AS parent
        WHERE parent.id = new.parent_config_id;
    END IF;
    IF v_same IS NOT TRUE THEN
        RAISE EXCEPTION '%.% must name a row of the same organization', TG_TABLE_NAME,
            CASE TG_TABLE_NAME WHEN 'generated_ads' THEN 'parent_ad_id' ELSE 'parent_config_id' END
            USING ERRCODE = 'GN951';
    END IF;
    RETURN new;
END
$$;
COMMENT ON FUNCTION genome._same_organization_parent() IS
'Trigger on public.generated_ads (parent_ad_id) and genome.quality_scoring_config (parent_config_id), before insert or update: the parent row must be visible to the caller and of the same organization as the row (a row the caller may not write at all is left to row-level security), so no tenant can point its rows into another organization (which would stop that organization deleting its own row). GN951 otherwise.';

CREATE OR REPLACE TRIGGER generated_ads_same_organization_parent
BEFORE INSERT OR UPDATE OF parent_ad_id, ad_run_id ON public.generated_ads
FOR EACH ROW EXECUTE FUNCTION genome._same_organization_parent();

CREATE OR REPLACE TRIGGER quality_scoring_config_same_organization_parent
BEFORE INSERT OR UPDATE OF parent_config_id, organization_id ON genome.quality_scoring_config
FOR EACH ROW EXECUTE FUNCTION genome._same_organization_parent();
