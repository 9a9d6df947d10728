CREATE OR REPLACE FUNCTION genome._check_storage_key()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_org uuid;
BEGIN
    IF NEW.storage_path IS NULL OR genome._caller_is_owner() THEN
        RETURN NEW;
    END IF;
    -- The agents read the file a storage_path names: the app and the agents may only name a
    -- key inside the ad's own organization's folder of the storage root, never an absolute
    -- path, a parent directory or a URL (docs/attacks.md#agents-and-the-queue).
    SELECT b.organization_id INTO v_org
    FROM public.ad_runs AS r
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    WHERE r.id = NEW.ad_run_id;
    IF v_org IS NULL
       OR split_part(NEW.storage_path, '/', 1) <> v_org::text
       OR NEW.storage_path !~ '^[0-9a-f-]{36}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$'
       OR position('..' IN NEW.storage_path) > 0 THEN
        RAISE EXCEPTION 'storage_path must be a storage key <organization id>/<file name> of the ad''s organization'
            USING ERRCODE = 'GN423';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION genome._check_storage_key() IS
'Internal trigger on public.generated_ads: a storage_path written by anyone but the owner (genome._caller_is_owner) must be a storage key <organization id>/<file name> in the ad''s own organization''s folder (file name of letters, digits, _ . -, no ".."), else GN423. The agents resolve keys against their storage root (agents/storage.py). See docs/errors.md.';

CREATE OR REPLACE TRIGGER generated_ads_storage_key
BEFORE INSERT OR UPDATE OF storage_path, ad_run_id ON public.generated_ads
FOR EACH ROW EXECUTE FUNCTION genome._check_storage_key();
