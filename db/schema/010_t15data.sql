-- Tenant data (docs/security.md#tenant-data): Meta results belong to a brand, the unique keys
-- the app controls are unique per brand or organization, and one organization's queued jobs
-- are capped.

-- A mapping carries the brand of its generated ad (set by the trigger
-- meta_ad_mapping_brand, db/functions/security/references.sql): collection reads a mapped
-- Meta ad's insights only from performance rows of that brand.
ALTER TABLE public.meta_ad_mapping ADD COLUMN IF NOT EXISTS brand_id uuid
REFERENCES public.brands (id);
UPDATE public.meta_ad_mapping AS m
SET brand_id = pr.brand_id
FROM public.generated_ads AS g
INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id
INNER JOIN public.products AS pr ON pr.id = r.product_id
WHERE g.id = m.generated_ad_id AND m.brand_id IS DISTINCT FROM pr.brand_id;
CREATE INDEX IF NOT EXISTS meta_ad_mapping_brand_meta_ad_idx
ON public.meta_ad_mapping (brand_id, meta_ad_id);
COMMENT ON COLUMN public.meta_ad_mapping.brand_id IS
'Brand of the mapped generated ad (set on every insert and update from ad_run -> product); only this brand''s meta_ads_performance rows count for the mapping.';

-- Keys on outside ids (Meta ad and campaign ids) and on slugs are per brand or organization:
-- a key shared by all tenants lets one tenant take an id first, blocking the real owner's
-- rows and confirming that the id exists elsewhere. The wider keys hold for every row the
-- narrower ones held for, so they build on history.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT con.conrelid::regclass::text AS table_name, con.conname
        FROM pg_constraint AS con
        WHERE con.contype = 'u'
          AND (con.conrelid, (
              SELECT array_agg(a.attname::text ORDER BY a.attname)
              FROM pg_attribute AS a
              WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
          )) IN (
              ('public.meta_ads_performance'::regclass, ARRAY['date', 'meta_ad_id']),
              ('public.meta_campaigns'::regclass, ARRAY['meta_ad_account_id', 'meta_campaign_id']),
              ('public.brands'::regclass, ARRAY['slug'])
          )
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.table_name, c.conname);
    END LOOP;
END
$$;
-- A mapping without an ad is keyed by its brand too (where the key counts NULL ads as equal;
-- a key that lets them differ has no such row to take first).
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT con.conname
        FROM pg_constraint AS con
        INNER JOIN pg_index AS i ON i.indexrelid = con.conindid
        WHERE con.conrelid = 'public.meta_ad_mapping'::regclass
          AND con.contype = 'u'
          AND i.indnullsnotdistinct
          AND (
              SELECT array_agg(a.attname::text ORDER BY a.attname)
              FROM pg_attribute AS a
              WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
          ) = ARRAY['generated_ad_id', 'meta_ad_id']
    LOOP
        EXECUTE format('ALTER TABLE public.meta_ad_mapping DROP CONSTRAINT %I', c.conname);
        CREATE UNIQUE INDEX meta_ad_mapping_brand_ad_meta_idx
        ON public.meta_ad_mapping (brand_id, generated_ad_id, meta_ad_id) NULLS NOT DISTINCT;
        COMMENT ON INDEX public.meta_ad_mapping_brand_ad_meta_idx IS
        'One mapping per brand, generated ad (or none) and Meta ad.';
    END LOOP;
END
$$;
CREATE UNIQUE INDEX IF NOT EXISTS meta_ads_performance_brand_ad_date_idx
ON public.meta_ads_performance (brand_id, meta_ad_id, date) NULLS NOT DISTINCT;
CREATE UNIQUE INDEX IF NOT EXISTS meta_campaigns_brand_campaign_idx
ON public.meta_campaigns (brand_id, meta_ad_account_id, meta_campaign_id) NULLS NOT DISTINCT;
CREATE UNIQUE INDEX IF NOT EXISTS brands_organization_slug_idx
ON public.brands (organization_id, slug);
COMMENT ON INDEX public.meta_ads_performance_brand_ad_date_idx IS
'One insights row per brand, Meta ad and day (the app upserts ON CONFLICT (brand_id, meta_ad_id, date)).';
COMMENT ON INDEX public.meta_campaigns_brand_campaign_idx IS
'One campaign row per brand, Meta ad account and campaign.';
COMMENT ON INDEX public.brands_organization_slug_idx IS 'Brand slugs are unique within their organization.';

INSERT INTO genome.settings (key, value, description) VALUES
('max_queued_jobs_per_organization', '10000',
 'Queued agent jobs one organization may have at once; new work beyond it is refused (GN414) so one organization cannot starve the others');
