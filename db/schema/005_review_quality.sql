-- Review pipeline results, human overrides, the versioned quality config and exemplars, the
-- history of every ad's final status, and the visual space (lookups, style clusters).

CREATE TABLE genome.review_checks (
    code text PRIMARY KEY,
    name text NOT NULL,
    weight numeric(4, 2) NOT NULL CHECK (weight > 0),
    hard_reject_below numeric(4, 2) CHECK (hard_reject_below BETWEEN 0 AND 10),
    description text NOT NULL
);
COMMENT ON TABLE genome.review_checks IS
'The existing app''s review rubric: 16 checks scored 0-10 with weights; the default of every organization''s quality config.';
INSERT INTO genome.review_checks VALUES
('V1', 'product', 1.5, NULL, 'Product is shown accurately'),
('V2', 'text', 1.5, NULL, 'Text is legible and correct'),
('V3', 'layout', 1.0, NULL, 'Layout is balanced'),
('V4', 'color', 0.8, NULL, 'Colour works'),
('V5', 'spacing', 0.8, NULL, 'Spacing and margins'),
('V6', 'resolution', 1.0, NULL, 'Resolution and sharpness'),
('V7', 'background', 1.0, NULL, 'Background quality'),
('V8', 'font', 0.8, NULL, 'Font choice and rendering'),
('V9', 'ai_artifacts', 1.2, 3.0, 'Free of AI artifacts'),
('C1', 'hook', 1.0, NULL, 'Hook is clear'),
('C2', 'brand', 0.8, NULL, 'On brand'),
('C3', 'cta', 0.8, NULL, 'Call to action'),
('C4', 'coherence', 0.8, NULL, 'Message coherence'),
('C5', 'offer_accuracy', 1.5, 3.0, 'Offer stated accurately'),
('G1', 'headline_offer', 1.0, NULL, 'Headline matches the offer'),
('G2', 'visual_message', 0.8, NULL, 'Visual supports the message');

CREATE TABLE genome.defect_checks (
    code text PRIMARY KEY,
    column_name text NOT NULL UNIQUE,
    critical boolean NOT NULL DEFAULT true,
    description text NOT NULL
);
COMMENT ON TABLE genome.defect_checks IS 'Stage-1 fast defect scan checks; a critical defect auto-rejects.';
INSERT INTO genome.defect_checks VALUES
('TEXT_GARBLED', 'text_garbled', true, 'Rendered text is garbled or misspelt'),
('ANATOMY_ERROR', 'anatomy_error', true, 'Malformed hands, faces or bodies'),
('PHYSICS_VIOLATION', 'physics_violation', true, 'Impossible lighting, shadows or physics'),
('PACKAGING_TEXT_ERROR', 'packaging_text_error', true, 'Packaging text differs from the product'),
('PRODUCT_DISTORTION', 'product_distortion', true, 'Product shape or label distorted'),
('OFFER_HALLUCINATION', 'offer_hallucination', true, 'An offer that the product does not have');

CREATE TABLE genome.quality_scoring_config (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid REFERENCES public.brands (id),
    version text NOT NULL,
    is_active boolean NOT NULL DEFAULT false,
    check_weights jsonb NOT NULL,
    check_thresholds jsonb NOT NULL,
    hard_reject_thresholds jsonb NOT NULL DEFAULT '{"V9": 3.0, "C5": 3.0}',
    weighted_pass_threshold numeric(4, 2) NOT NULL DEFAULT 7.0,
    weighted_flag_threshold numeric(4, 2) NOT NULL DEFAULT 5.0,
    borderline_low numeric(4, 2) NOT NULL DEFAULT 5.0,
    borderline_high numeric(4, 2) NOT NULL DEFAULT 7.0,
    calibrated_from_overrides integer NOT NULL DEFAULT 0,
    calibration_metrics jsonb NOT NULL DEFAULT '{}',
    parent_config_id uuid REFERENCES genome.quality_scoring_config (id),
    approved_by text,
    activated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (weighted_flag_threshold <= weighted_pass_threshold),
    CHECK (borderline_low <= borderline_high),
    UNIQUE NULLS NOT DISTINCT (organization_id, brand_id, version)
);
CREATE UNIQUE INDEX quality_scoring_config_one_active_idx
ON genome.quality_scoring_config (organization_id, coalesce(brand_id, '00000000-0000-0000-0000-000000000000'))
WHERE is_active;
COMMENT ON TABLE genome.quality_scoring_config IS
'Versioned review thresholds per organization (optionally per brand). One active row per (organization, brand); calibration writes inactive versions that a human activates.';
COMMENT ON COLUMN genome.quality_scoring_config.check_thresholds IS
'Per check: the score below which the check counts as failed (used by calibration and the review decision).';

-- Every organization gets the rubric in use as its active default config.
CREATE FUNCTION genome._seed_default_quality_config(p_organization_id uuid)
RETURNS void
LANGUAGE sql
SET search_path = genome, public
AS $$
    INSERT INTO genome.quality_scoring_config (
        organization_id, version, is_active, check_weights, check_thresholds,
        hard_reject_thresholds, approved_by, activated_at
    )
    SELECT
        p_organization_id,
        'default-v1',
        true,
        jsonb_object_agg(code, weight),
        jsonb_object_agg(code, 7.0),
        coalesce(
            jsonb_object_agg(code, hard_reject_below) FILTER (WHERE hard_reject_below IS NOT NULL),
            '{}'
        ),
        'system',
        now()
    FROM genome.review_checks
    ON CONFLICT DO NOTHING;
$$;
COMMENT ON FUNCTION genome._seed_default_quality_config(uuid) IS
'Internal: gives an organization the default rubric as its active quality config.';

CREATE FUNCTION genome._organization_default_config() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- Definer: the app creates organizations as its own role, which has no rights in
    -- schema genome; it seeds only the new organization's config
    -- (docs/security.md#definer-functions).
    PERFORM genome._seed_default_quality_config(NEW.id);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION genome._organization_default_config() IS
'Internal trigger on public.organizations (after insert): gives the new organization the default rubric as its active quality config. SECURITY DEFINER, so the existing app can create organizations as its own role (docs/security.md#definer-functions).';
CREATE TRIGGER organizations_default_quality_config
AFTER INSERT ON public.organizations
FOR EACH ROW EXECUTE FUNCTION genome._organization_default_config();
SELECT genome._seed_default_quality_config(id) FROM public.organizations;

CREATE TABLE genome.ad_defect_scans (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    agent_job_id uuid UNIQUE,
    passed boolean NOT NULL,
    defects_found text [] NOT NULL DEFAULT '{}',
    text_garbled boolean NOT NULL DEFAULT false,
    anatomy_error boolean NOT NULL DEFAULT false,
    physics_violation boolean NOT NULL DEFAULT false,
    packaging_text_error boolean NOT NULL DEFAULT false,
    product_distortion boolean NOT NULL DEFAULT false,
    offer_hallucination boolean NOT NULL DEFAULT false,
    model_used text NOT NULL,
    scan_time_ms integer CHECK (scan_time_ms >= 0),
    raw_output jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ad_defect_scans_ad_idx ON genome.ad_defect_scans (generated_ad_id);
COMMENT ON TABLE genome.ad_defect_scans IS
'Stage-1 defect scan results. Only a completed, parsed scan is a row: a failed scan is a failed job, never a pass.';

CREATE TABLE genome.ad_reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    agent_job_id uuid UNIQUE,
    stage text NOT NULL CHECK (stage IN ('review', 'second_opinion')),
    reviewer text NOT NULL CHECK (reviewer IN ('claude', 'gemini', 'offline')),
    model_used text NOT NULL,
    config_id uuid NOT NULL REFERENCES genome.quality_scoring_config (id),
    check_scores jsonb NOT NULL,
    weighted_score numeric(5, 3) NOT NULL CHECK (weighted_score BETWEEN 0 AND 10),
    verdict text NOT NULL CHECK (verdict IN ('approve', 'borderline', 'reject')),
    exemplar_ids uuid [] NOT NULL DEFAULT '{}',
    raw_output jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ad_reviews_ad_idx ON genome.ad_reviews (generated_ad_id);
COMMENT ON TABLE genome.ad_reviews IS
'Stage-2 review and stage-3 second opinion results: per-check scores, weighted score and the verdict under the config used.';

CREATE TABLE genome.ad_review_overrides (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    ai_status text NOT NULL,
    ai_weighted_score numeric(5, 3),
    ai_check_scores jsonb,
    config_id uuid REFERENCES genome.quality_scoring_config (id),
    human_status text NOT NULL CHECK (human_status IN ('approved', 'rejected')),
    human_reason text,
    override_type text NOT NULL CHECK (override_type IN (
        'override_approve', 'override_reject', 'confirm_approve', 'confirm_reject'
    )),
    check_overrides jsonb NOT NULL DEFAULT '{}',
    overridden_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- No UNIQUE (generated_ad_id): every human decision is history.
CREATE INDEX ad_review_overrides_org_idx ON genome.ad_review_overrides (organization_id, created_at);
CREATE INDEX ad_review_overrides_ad_idx ON genome.ad_review_overrides (generated_ad_id);
COMMENT ON TABLE genome.ad_review_overrides IS
'Human decisions on AI reviews, with the AI decision and per-check scores at the time. History is kept: several rows per ad are allowed.';

CREATE TABLE genome.ad_quality_exemplars (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES public.organizations (id),
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    exemplar_type text NOT NULL CHECK (exemplar_type IN ('gold_approve', 'gold_reject', 'edge_case')),
    visual_description text NOT NULL,
    quality_notes text NOT NULL,
    check_scores jsonb NOT NULL DEFAULT '{}',
    exemplar_embedding vector(1536),
    embedding_model text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (exemplar_embedding IS NULL OR embedding_model IS NOT NULL)
);
CREATE UNIQUE INDEX ad_quality_exemplars_active_ad_idx
ON genome.ad_quality_exemplars (generated_ad_id) WHERE is_active;
CREATE INDEX ad_quality_exemplars_embedding_idx
ON genome.ad_quality_exemplars USING hnsw (exemplar_embedding vector_cosine_ops);
COMMENT ON TABLE genome.ad_quality_exemplars IS
'Few-shot calibration ads per brand: 10 gold_approve, 10 gold_reject, 5-10 edge_case.';

CREATE TABLE genome.ad_status_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    generated_ad_id uuid NOT NULL REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    old_status text NOT NULL,
    new_status text NOT NULL,
    reason text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ad_status_history_ad_idx ON genome.ad_status_history (generated_ad_id, id);
COMMENT ON TABLE genome.ad_status_history IS
'Every change of generated_ads.final_status (pipeline decisions, dead letters, human overrides), with the reason recorded.';

-- The review agent describes and embeds an image to find its nearest exemplars before the ad
-- has an embedding of its own. Kept here, the second opinion and the embed stage reuse it
-- instead of paying for the same describe and embedding calls again.
CREATE TABLE genome.ad_visual_lookups (
    generated_ad_id uuid PRIMARY KEY REFERENCES public.generated_ads (id) ON DELETE CASCADE,
    visual_descriptor jsonb NOT NULL CHECK (jsonb_typeof(visual_descriptor) = 'object'),
    visual_embedding vector(1536) NOT NULL,
    embedding_model text NOT NULL CHECK (btrim(embedding_model) <> ''),
    agent_job_id uuid REFERENCES genome.agent_jobs (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE genome.ad_visual_lookups IS
'The visual descriptor and embedding that a review agent made of an ad''s image to look up its nearest exemplars (genome.review_exemplars), before the embed stage. One row per ad: the second opinion looks up with it again, and the embed stage of an approved ad stores it as the ad''s own (genome.record_embedding_from_lookup) without new model calls.';
COMMENT ON COLUMN genome.ad_visual_lookups.agent_job_id IS
'The review or second_opinion job whose agent made the descriptor and embedding.';

CREATE TABLE genome.style_clusters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id uuid NOT NULL REFERENCES public.brands (id),
    computed_at timestamptz NOT NULL,
    cluster_label integer NOT NULL,
    size integer NOT NULL CHECK (size > 0),
    member_ad_ids uuid [] NOT NULL,
    mean_reward double precision,
    reward_ci_low double precision,
    reward_ci_high double precision,
    embedding_model text,
    rewarded_n integer NOT NULL DEFAULT 0 CHECK (rewarded_n >= 0),
    UNIQUE (brand_id, computed_at, cluster_label)
);
COMMENT ON TABLE genome.style_clusters IS 'DBSCAN style clusters of approved-ad embeddings; label -1 is noise.';
COMMENT ON COLUMN genome.style_clusters.embedding_model IS
'The embedding model whose vectors were clustered (only vectors of one model are ever compared).';
COMMENT ON COLUMN genome.style_clusters.rewarded_n IS
'Members with a matured reward at computed_at: the n behind mean_reward and its interval.';
