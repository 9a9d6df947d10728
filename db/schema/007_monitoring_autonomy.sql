-- Monitoring and autonomy: health alerts, weekly validation of the genome's predictions, the
-- alert evaluation type shared by every check, creative fatigue per launched ad, and the
-- competitors' ads that whitespace counts as occupied.

CREATE TABLE genome.system_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid REFERENCES public.brands (id),
    alert_type text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    metric_value double precision,
    status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'acknowledged', 'resolved', 'auto_resolved')),
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE UNIQUE INDEX system_alerts_one_open_idx
ON genome.system_alerts (
    organization_id, coalesce(brand_id, '00000000-0000-0000-0000-000000000000'), alert_type
)
WHERE status IN ('active', 'acknowledged');
COMMENT ON TABLE genome.system_alerts IS
'Health alerts: one open alert per (organization, brand, type); worse severity updates it; auto_resolved when the metric recovers.';

CREATE TABLE genome.validation_results (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    week_start date NOT NULL CHECK (extract(ISODOW FROM week_start) = 1),
    iso_year integer NOT NULL,
    iso_week integer NOT NULL CHECK (iso_week BETWEEN 1 AND 53),
    computed_at timestamptz NOT NULL,
    launched_from date NOT NULL,
    launched_to date NOT NULL,
    n integer NOT NULL CHECK (n >= 0),
    spearman_rho double precision CHECK (spearman_rho BETWEEN -1 AND 1),
    ci_lower double precision,
    ci_upper double precision,
    ci_level double precision NOT NULL,
    sufficient boolean NOT NULL,
    below_threshold boolean,
    threshold double precision NOT NULL,
    UNIQUE (brand_id, week_start)
);
COMMENT ON TABLE genome.validation_results IS
'Prediction accuracy per brand and ISO week: Spearman correlation of pre_gen_score with the matured CTR of ads launched prediction_lag_days or more before the run, with n and a Fisher-z interval. A re-run in the same week replaces that week''s row.';
COMMENT ON COLUMN genome.validation_results.sufficient IS
'n >= validation_min_ads and the correlation is defined; only sufficient weeks count toward (or against) the stale flag.';

CREATE TYPE genome.alert_evaluation AS (
    organization_id uuid,
    brand_id uuid,
    alert_type text,
    severity text,
    title text,
    metric_value double precision,
    details jsonb
);
COMMENT ON TYPE genome.alert_evaluation IS
'One evaluated health check for genome._sync_alerts: severity warning/critical raises or escalates the open alert, NULL means healthy (the open alert is auto_resolved). Checks that could not be evaluated are not passed at all.';

CREATE TABLE genome.ad_fatigue (
    generated_ad_id uuid PRIMARY KEY REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    assessed_at timestamptz NOT NULL,
    first_date date NOT NULL,
    last_date date NOT NULL,
    age_days integer NOT NULL CHECK (age_days >= 1),
    baseline_impressions bigint NOT NULL CHECK (baseline_impressions >= 0),
    baseline_clicks bigint NOT NULL CHECK (baseline_clicks >= 0),
    baseline_ctr double precision,
    current_from date,
    current_impressions bigint NOT NULL DEFAULT 0 CHECK (current_impressions >= 0),
    current_clicks bigint NOT NULL DEFAULT 0 CHECK (current_clicks >= 0),
    current_ctr double precision,
    ctr_decay double precision,
    ctr_decay_ci_lower double precision,
    ctr_decay_ci_upper double precision,
    lifetime_impressions bigint NOT NULL CHECK (lifetime_impressions >= 0),
    est_audience double precision,
    est_frequency double precision,
    status text NOT NULL CHECK (status IN ('warming_up', 'fresh', 'decaying', 'fatigued')),
    fatigued_on date,
    days_to_fatigue integer CHECK (days_to_fatigue >= 1),
    inputs_hash bigint NOT NULL,
    CHECK ((status = 'fatigued') = (fatigued_on IS NOT NULL))
);
CREATE INDEX ad_fatigue_brand_idx ON genome.ad_fatigue (brand_id, status);
COMMENT ON TABLE genome.ad_fatigue IS
'Creative fatigue per launched ad (genome.detect_fatigue): CTR of the latest window against the ad''s own first matured week, with its estimated lifetime frequency. One row per ad, replaced when the ad''s inputs changed (inputs_hash).';
COMMENT ON COLUMN genome.ad_fatigue.ctr_decay IS
'1 - current_ctr / baseline_ctr; ctr_decay_ci_* is its 95% interval (delta method on the log CTR ratio).';
COMMENT ON COLUMN genome.ad_fatigue.est_frequency IS
'Estimated lifetime frequency (impressions per person reached): lifetime impressions over the reach a random-exposure model gives for the audience size est_audience, which is estimated from the daily impressions / reach of the ad.';
COMMENT ON COLUMN genome.ad_fatigue.status IS
'warming_up: its first matured week is not complete; fresh; decaying: CTR fell by the threshold but frequency has not passed its threshold; fatigued: both (first on fatigued_on).';
COMMENT ON COLUMN genome.ad_fatigue.inputs_hash IS
'Fingerprint of what the assessment read: its delivered days up to p_now (date, impressions, clicks, daily frequency) and the fatigue settings. detect_fatigue assesses an ad again only when it changed (docs/evolution.md#fatigue).';
COMMENT ON COLUMN genome.ad_fatigue.days_to_fatigue IS
'Days from first delivery to fatigued_on (the event of the survival fit in genome.predict_fatigue).';

CREATE TABLE genome.competitor_ad_tags (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    category text NOT NULL,
    competitor text,
    element_tags jsonb NOT NULL,
    observed_at timestamptz NOT NULL,
    source text
);
CREATE INDEX competitor_ad_tags_org_category_idx
ON genome.competitor_ad_tags (organization_id, category);
COMMENT ON TABLE genome.competitor_ad_tags IS
'Element tags of competitors'' ads an organization has recorded (e.g. from an ad library), per category. genome.whitespace counts them as occupied space; they carry no rewards.';
