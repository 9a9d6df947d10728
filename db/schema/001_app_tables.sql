-- The existing ad app's tables, created only where missing, and the columns, keys and checks
-- Creative Genome adds to them.
-- Everything is IF NOT EXISTS so the same file runs on the app's database and on an
-- empty one. Constraints added to tables that may already hold app data are NOT VALID:
-- they bind every new and updated row without failing on history.

CREATE TABLE IF NOT EXISTS public.organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text UNIQUE,
    owner_user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.brands (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    name text NOT NULL,
    slug text UNIQUE,
    description text,
    website text,
    template_selection_config jsonb,
    cross_brand_sharing boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.brands ADD COLUMN IF NOT EXISTS category text;
CREATE INDEX IF NOT EXISTS brands_organization_idx ON public.brands (organization_id);
CREATE INDEX IF NOT EXISTS brands_category_idx ON public.brands (category)
WHERE cross_brand_sharing;

CREATE TABLE IF NOT EXISTS public.products (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    name text NOT NULL,
    slug text,
    benefits text [],
    current_offer text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS products_brand_idx ON public.products (brand_id);

CREATE TABLE IF NOT EXISTS public.ad_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id uuid NOT NULL REFERENCES public.products (id),
    status text NOT NULL DEFAULT 'pending',
    generation_config jsonb DEFAULT '{}',
    parameters jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS generation_config jsonb DEFAULT '{}';
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS pipeline_version text DEFAULT 'v1';
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS experiment_id uuid;
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS experiment_group text;
-- A run caps attempts (model calls), not approvals, and counts both.
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 50;
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS attempts_count integer NOT NULL DEFAULT 0;
ALTER TABLE public.ad_runs ADD COLUMN IF NOT EXISTS approved_count integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS ad_runs_product_idx ON public.ad_runs (product_id);

CREATE TABLE IF NOT EXISTS public.generated_ads (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ad_run_id uuid NOT NULL REFERENCES public.ad_runs (id),
    prompt_index integer NOT NULL,
    prompt_text text,
    prompt_spec jsonb,
    hook_id uuid,
    hook_text text,
    storage_path text,
    claude_review jsonb,
    gemini_review jsonb,
    final_status text NOT NULL DEFAULT 'pending',
    canvas_size text,
    color_mode text,
    prompt_version text,
    template_id uuid,
    regenerate_parent_id uuid,
    review_check_scores jsonb,
    defect_scan_result jsonb,
    override_status text,
    element_tags jsonb DEFAULT '{}',
    pre_gen_score numeric(5, 4),
    is_imported boolean NOT NULL DEFAULT false,
    meta_ad_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- canvas_size is persisted, with the other columns the genome reads.
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS canvas_size text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS element_tags jsonb DEFAULT '{}';
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS bandit_selected boolean DEFAULT false;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS prompt_version text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS parent_ad_id uuid
REFERENCES public.generated_ads (id);
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS iteration_round integer DEFAULT 0;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS pre_gen_score numeric(6, 4);
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS genome_version integer;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS visual_embedding vector(1536);
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS visual_embedding_model text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS visual_descriptor jsonb;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS review_model_version text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS review_weighted_score numeric(5, 3);
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS review_check_scores jsonb;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS human_override_status text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS defect_scan_passed boolean;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS template_id uuid;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS is_imported boolean NOT NULL
DEFAULT false;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS meta_ad_id text;
-- Creative Genome bookkeeping on each ad.
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS element_propensities jsonb;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS element_tags_source text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS decision_reason text;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS decided_at timestamptz;
ALTER TABLE public.generated_ads ADD COLUMN IF NOT EXISTS created_at timestamptz
DEFAULT now();

DO $$
DECLARE
    c record;
BEGIN
    -- Identity is (ad_run_id, prompt_index, canvas_size); an older unique key on
    -- (ad_run_id, prompt_index) alone would make size variants collide.
    FOR c IN
        SELECT con.conname
        FROM pg_constraint AS con
        WHERE con.conrelid = 'public.generated_ads'::regclass
          AND con.contype = 'u'
          AND (
              SELECT array_agg(a.attname::text ORDER BY a.attname)
              FROM pg_attribute AS a
              WHERE a.attrelid = con.conrelid AND a.attnum = ANY(con.conkey)
          ) = ARRAY['ad_run_id', 'prompt_index']
    LOOP
        EXECUTE format('ALTER TABLE public.generated_ads DROP CONSTRAINT %I', c.conname);
    END LOOP;
END
$$;
-- The app's database already has both indexes under its own names: an index of the same
-- definition is not built twice (every write would maintain both).
DO $$
DECLARE
    wanted text[][] := ARRAY[
        ['generated_ads_identity_idx',
         'CREATE UNIQUE INDEX %I ON public.generated_ads USING btree '
         || '(ad_run_id, prompt_index, COALESCE(canvas_size, ''default''::text))'],
        ['generated_ads_element_tags_idx',
         'CREATE INDEX %I ON public.generated_ads USING gin (element_tags)']
    ];
    i integer;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_index AS x
            WHERE x.indrelid = 'public.generated_ads'::regclass
              AND x.indpred IS NULL
              AND regexp_replace(pg_get_indexdef(x.indexrelid), ' INDEX \S+ ON ', ' INDEX %I ON ')
                  = wanted[i][2]
        ) THEN
            EXECUTE format(wanted[i][2], wanted[i][1]);
        END IF;
    END LOOP;
END
$$;
CREATE INDEX IF NOT EXISTS generated_ads_status_idx ON public.generated_ads (final_status);
CREATE INDEX IF NOT EXISTS generated_ads_embedding_idx
ON public.generated_ads USING hnsw (visual_embedding vector_cosine_ops);

CREATE TABLE IF NOT EXISTS public.meta_campaigns (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    meta_ad_account_id text NOT NULL,
    meta_campaign_id text NOT NULL,
    name text,
    status text,
    objective text,
    brand_id uuid REFERENCES public.brands (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meta_ad_account_id, meta_campaign_id)
);

CREATE TABLE IF NOT EXISTS public.meta_ad_mapping (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    generated_ad_id uuid REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    meta_ad_id text NOT NULL,
    meta_ad_account_id text,
    meta_campaign_id text NOT NULL,
    linked_by text DEFAULT 'auto',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A NULL generated_ad_id must not open a hole in the key.
    UNIQUE NULLS NOT DISTINCT (generated_ad_id, meta_ad_id)
);
CREATE INDEX IF NOT EXISTS meta_ad_mapping_meta_ad_idx ON public.meta_ad_mapping (meta_ad_id);
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

CREATE TABLE IF NOT EXISTS public.meta_ads_performance (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    meta_ad_account_id text NOT NULL,
    meta_ad_id text NOT NULL,
    meta_campaign_id text NOT NULL,
    meta_adset_id text,
    ad_name text,
    date date NOT NULL,
    spend numeric(12, 2),
    impressions integer,
    reach integer,
    frequency numeric(8, 4),
    link_clicks integer,
    link_cpc numeric(10, 4),
    add_to_carts integer,
    purchases integer,
    purchase_value numeric(12, 2),
    brand_id uuid REFERENCES public.brands (id),
    cpm numeric(10, 4),
    ad_status text,
    link_ctr numeric(10, 4),
    conversion_rate numeric(10, 4),
    roas numeric(8, 4),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meta_ad_id, date)
);
-- The objective travels with each performance row.
ALTER TABLE public.meta_ads_performance ADD COLUMN IF NOT EXISTS campaign_objective text;
ALTER TABLE public.meta_ads_performance ADD COLUMN IF NOT EXISTS updated_at timestamptz
DEFAULT now();
CREATE INDEX IF NOT EXISTS meta_ads_performance_brand_date_idx
ON public.meta_ads_performance (brand_id, date);

CREATE TABLE IF NOT EXISTS public.ad_intelligence_baselines (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    awareness_level text NOT NULL,
    creative_format text NOT NULL,
    video_length_bucket text,
    campaign_objective text DEFAULT 'all',
    sample_size integer,
    unique_ads integer,
    p25_ctr numeric(10, 6),
    median_ctr numeric(10, 6),
    p75_ctr numeric(10, 6),
    p25_cpc numeric(10, 4),
    median_cpc numeric(10, 4),
    p75_cpc numeric(10, 4),
    p25_cpm numeric(10, 4),
    median_cpm numeric(10, 4),
    p75_cpm numeric(10, 4),
    p25_roas numeric(10, 4),
    median_roas numeric(10, 4),
    p75_roas numeric(10, 4),
    p25_conversion_rate numeric(10, 6),
    median_conversion_rate numeric(10, 6),
    p75_conversion_rate numeric(10, 6),
    date_range_start date,
    date_range_end date,
    computed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (
        brand_id, awareness_level, creative_format, video_length_bucket, campaign_objective
    )
);

CREATE TABLE IF NOT EXISTS public.product_template_usage (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id uuid NOT NULL REFERENCES public.products (id),
    template_storage_name text NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now(),
    ad_run_id uuid REFERENCES public.ad_runs (id),
    UNIQUE (product_id, template_storage_name)
);
-- Templates are joined by id, not by storage name.
ALTER TABLE public.product_template_usage ADD COLUMN IF NOT EXISTS template_id uuid;
CREATE INDEX IF NOT EXISTS product_template_usage_template_idx
ON public.product_template_usage (template_id);

CREATE TABLE IF NOT EXISTS public.scheduled_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id uuid REFERENCES public.products (id),
    brand_id uuid REFERENCES public.brands (id),
    name text NOT NULL,
    schedule_type text NOT NULL DEFAULT 'one_time'
    CHECK (schedule_type IN ('one_time', 'recurring')),
    cron_expression text,
    next_run_at timestamptz,
    max_runs integer,
    runs_completed integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'paused', 'completed', 'archived')),
    parameters jsonb DEFAULT '{}',
    job_type text NOT NULL DEFAULT 'ad_creation',
    trigger_source text,
    max_retries integer DEFAULT 3,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- ad_creation_v2 and the genome job types are valid; any other type is refused
-- instead of silently falling through to V1 ad creation.
ALTER TABLE public.scheduled_jobs DROP CONSTRAINT IF EXISTS scheduled_jobs_job_type_check;
ALTER TABLE public.scheduled_jobs DROP CONSTRAINT IF EXISTS valid_job_type;
ALTER TABLE public.scheduled_jobs ADD CONSTRAINT valid_job_type CHECK (job_type IN (
    'ad_creation', 'ad_creation_v2', 'meta_sync', 'creative_genome_update',
    'genome_validation', 'winner_evolution', 'experiment_analysis', 'quality_calibration'
)) NOT VALID;

-- Impossible numbers are refused at the door (NaN and Infinity included: numeric NaN
-- sorts above every number, so `>= 0` alone would admit it).
DO $$
DECLARE
    checks text[][] := ARRAY[
        ['meta_ads_performance_spend_check',
         'spend IS NULL OR (spend >= 0 AND spend < ''Infinity''::numeric)'],
        ['meta_ads_performance_counts_check',
         'coalesce(impressions, 0) >= 0 AND coalesce(reach, 0) >= 0 '
         || 'AND coalesce(link_clicks, 0) >= 0 AND coalesce(add_to_carts, 0) >= 0 '
         || 'AND coalesce(purchases, 0) >= 0'],
        ['meta_ads_performance_clicks_check',
         'link_clicks IS NULL OR impressions IS NULL OR link_clicks <= impressions'],
        ['meta_ads_performance_value_check',
         'purchase_value IS NULL OR (purchase_value >= 0 '
         || 'AND purchase_value < ''Infinity''::numeric)'],
        ['meta_ads_performance_rates_check',
         '(link_ctr IS NULL OR (link_ctr >= 0 AND link_ctr <= 100)) '
         || 'AND (conversion_rate IS NULL OR (conversion_rate >= 0 AND conversion_rate < ''Infinity''::numeric)) '
         || 'AND (roas IS NULL OR (roas >= 0 AND roas < ''Infinity''::numeric)) '
         || 'AND (cpm IS NULL OR (cpm >= 0 AND cpm < ''Infinity''::numeric)) '
         || 'AND (frequency IS NULL OR (frequency >= 0 AND frequency < ''Infinity''::numeric))'],
        ['ad_runs_status_check',
         'status IN (''pending'', ''analyzing'', ''generating'', ''reviewing'', '
         || '''complete'', ''failed'')'],
        -- No approved_count <= attempts_count: attempts are what plan_ads counted, and the
        -- app's own pipeline inserts and approves ads plan_ads never planned.
        ['ad_runs_attempts_check',
         'max_attempts >= 0 AND attempts_count >= 0 AND approved_count >= 0'],
        ['generated_ads_final_status_check',
         'final_status IN (''pending'', ''approved'', ''rejected'', ''flagged'', '
         || '''review_failed'', ''generation_failed'')'],
        ['generated_ads_prompt_index_check', 'prompt_index BETWEEN 1 AND 100'],
        ['generated_ads_human_override_check',
         'human_override_status IS NULL OR human_override_status IN (''approved'', ''rejected'')'],
        ['generated_ads_embedding_model_check',
         'visual_embedding IS NULL OR visual_embedding_model IS NOT NULL'],
        ['meta_ad_mapping_linked_by_check', 'linked_by IN (''auto'', ''manual'')']
    ];
    tbl text;
    i integer;
BEGIN
    FOR i IN 1 .. array_length(checks, 1) LOOP
        tbl := CASE
            WHEN checks[i][1] LIKE 'meta_ads_performance%' THEN 'meta_ads_performance'
            WHEN checks[i][1] LIKE 'meta_ad_mapping%' THEN 'meta_ad_mapping'
            WHEN checks[i][1] LIKE 'ad_runs%' THEN 'ad_runs'
            ELSE 'generated_ads'
        END;
        IF NOT EXISTS (
            SELECT 1 FROM pg_constraint
            WHERE conname = checks[i][1] AND conrelid = ('public.' || tbl)::regclass
        ) THEN
            EXECUTE format(
                'ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (%s) NOT VALID',
                tbl, checks[i][1], checks[i][2]
            );
        END IF;
    END LOOP;
END
$$;

-- Keys on outside ids (Meta ad and campaign ids) and on slugs are per brand or organization
-- (docs/security.md#tenant-data):
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

COMMENT ON TABLE public.organizations IS 'Tenants (existing app). Every Creative Genome row reaches one.';
COMMENT ON TABLE public.brands IS 'Brands of an organization (existing app).';
COMMENT ON COLUMN public.brands.category IS
'Creative Genome: category for cold-start priors (pooled only across brands with cross_brand_sharing).';
COMMENT ON COLUMN public.brands.cross_brand_sharing IS
'Opt-in: this brand contributes to and receives category-level prior aggregates.';
COMMENT ON TABLE public.products IS 'Products of a brand (existing app).';
COMMENT ON TABLE public.ad_runs IS
'A generation run for one product (existing app; no brand_id: the brand is products.brand_id).';
COMMENT ON COLUMN public.ad_runs.max_attempts IS 'Cap on generation attempts (model calls), not approvals.';
COMMENT ON COLUMN public.ad_runs.attempts_count IS 'Ads planned (each one generation attempt).';
COMMENT ON COLUMN public.ad_runs.approved_count IS 'Ads of this run that reached approved.';
COMMENT ON COLUMN public.ad_runs.generation_config IS
'Versions used by the run: prompt_template_version, pipeline_version, review_rubric_version, genome_scores_version.';
COMMENT ON TABLE public.generated_ads IS
'One generated ad (existing app). Identity (ad_run_id, prompt_index, canvas_size), so size variants never collide; brand via ad_run -> product.';
COMMENT ON COLUMN public.generated_ads.element_tags IS
'Creative elements of the ad, keys and values from genome.element_dimensions / genome.element_values.';
COMMENT ON COLUMN public.generated_ads.element_propensities IS
'Per dimension: probability that the selection policy would pick the chosen value (for off-policy evaluation).';
COMMENT ON COLUMN public.generated_ads.element_tags_source IS
'plan (chosen by genome.plan_ads), backfilled (derived from V1 columns) or app.';
COMMENT ON COLUMN public.generated_ads.visual_embedding IS
'Embedding of the visual descriptor; compared only with rows of the same visual_embedding_model.';
COMMENT ON COLUMN public.generated_ads.pre_gen_score IS 'genome.pre_gen_score of the planned elements.';
COMMENT ON TABLE public.meta_campaigns IS 'Meta campaigns (existing app); objective is Meta''s raw value.';
COMMENT ON TABLE public.meta_ad_mapping IS
'Links generated ads to Meta ads (the primary attribution path; ad-name parsing is the fallback).';
COMMENT ON COLUMN public.meta_ad_mapping.brand_id IS
'Brand of the mapped generated ad (set on every insert and update from ad_run -> product); only this brand''s meta_ads_performance rows count for the mapping.';
COMMENT ON TABLE public.meta_ads_performance IS
'Daily Meta insights per ad (existing app). link_ctr and conversion_rate are in percent. The last 28 days may be restated.';
COMMENT ON COLUMN public.meta_ads_performance.link_ctr IS 'Outbound CTR in PERCENT (Meta outbound_clicks_ctr).';
COMMENT ON COLUMN public.meta_ads_performance.conversion_rate IS 'purchases / link_clicks x 100 (PERCENT).';
COMMENT ON COLUMN public.meta_ads_performance.campaign_objective IS 'The campaign''s Meta objective.';
COMMENT ON TABLE public.ad_intelligence_baselines IS
'Per-brand cohort percentiles (existing app). ctr columns are RATIOS, unlike meta_ads_performance.link_ctr.';
COMMENT ON TABLE public.product_template_usage IS 'Templates used per product (existing app); joined to templates by template_id.';
COMMENT ON TABLE public.scheduled_jobs IS
'The existing app''s scheduler. Creative Genome''s own jobs run on pg_cron (genome.run_job).';
