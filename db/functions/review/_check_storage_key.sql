CREATE OR REPLACE FUNCTION genome._check_storage_key()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_org uuid;
    v_key text := NEW.storage_path;
BEGIN
    IF NEW.storage_path IS NULL OR genome._caller_is_owner() THEN
        RETURN NEW;
    END IF;
    -- The agents read the image a storage_path names: the app and the agents may only name
    -- an image in the ad's own organization's prefix: a key <organization id>/<file name>,
    -- or a URI of a store (file:// or s3://bucket, plain path segments) ending in one. Never
    -- a bare absolute path, a parent directory, a %-escape, a query or another scheme. Which
    -- store a URI may name is the reader's check (agents/storage.py,
    -- docs/attacks.md#agents-and-the-queue).
    IF v_key ~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN
        IF v_key !~ '^(s3://[a-z0-9][a-z0-9.-]{1,62}|file://)(/[A-Za-z0-9_.~+-]+)*/[^/]+/[^/]+$' THEN
            v_key := NULL;
        ELSE
            v_key := substring(v_key FROM '([^/]+/[^/]+)$');
        END IF;
    END IF;
    SELECT b.organization_id INTO v_org
    FROM public.ad_runs AS r
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    WHERE r.id = NEW.ad_run_id;
    IF v_org IS NULL
       OR v_key IS NULL
       OR split_part(v_key, '/', 1) <> v_org::text
       OR v_key !~ '^[0-9a-f-]{36}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$'
       OR position('..' IN NEW.storage_path) > 0 THEN
        RAISE EXCEPTION 'storage_path must be a storage key <organization id>/<file name> of the ad''s organization, or a store URI ending in one'
            USING ERRCODE = 'GN423';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION genome._check_storage_key() IS
'Internal trigger on public.generated_ads: a storage_path written by anyone but the owner (genome._caller_is_owner) must name an image in the ad''s own organization''s prefix: a storage key <organization id>/<file name> (file name of letters, digits, _ . -), or a URI file:///<dir>/<key> or s3://<bucket>/<prefix>/<key> (plain path segments); no "..", else GN423. Which store a URI names is checked by its reader against the reader''s configured store (agents/storage.py). See docs/errors.md.';

CREATE OR REPLACE TRIGGER generated_ads_storage_key
BEFORE INSERT OR UPDATE OF storage_path, ad_run_id ON public.generated_ads
FOR EACH ROW EXECUTE FUNCTION genome._check_storage_key();
