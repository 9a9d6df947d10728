-- The few-shot exemplar library (docs/quality.md#exemplar-library): curated calibration ads per brand.

CREATE OR REPLACE FUNCTION genome.add_exemplar(
    p_generated_ad_id uuid,
    p_exemplar_type text,
    p_quality_notes text,
    p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_ad record;
    v_type_n integer;
    v_total_n integer;
    v_type_limit integer;
    v_total_limit integer := genome._setting_num('exemplar_limit_total')::integer;
    v_id uuid;
BEGIN
    PERFORM genome._check_payload_size(p_quality_notes, 'exemplar notes');
    PERFORM genome._require_now(p_now);
    IF p_exemplar_type IS NULL OR p_exemplar_type NOT IN ('gold_approve', 'gold_reject', 'edge_case') THEN
        RAISE EXCEPTION 'exemplar type must be gold_approve, gold_reject or edge_case, got %',
            coalesce(p_exemplar_type, 'NULL')
            USING ERRCODE = 'GN710';
    END IF;
    IF p_quality_notes IS NULL OR btrim(p_quality_notes) = '' THEN
        RAISE EXCEPTION 'an exemplar needs quality notes (what the reviewer should learn from it)'
            USING ERRCODE = 'GN711';
    END IF;
    PERFORM genome._require_ad(p_generated_ad_id);
    SELECT
        g.id, g.visual_descriptor, g.visual_embedding, g.visual_embedding_model, g.review_check_scores,
        p.brand_id, b.organization_id
    INTO v_ad
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    WHERE g.id = p_generated_ad_id;
    IF v_ad.visual_embedding IS NULL OR jsonb_typeof(v_ad.visual_descriptor) IS DISTINCT FROM 'object'
       OR v_ad.visual_descriptor = '{}' THEN
        RAISE EXCEPTION 'ad % has no visual descriptor and embedding yet; an exemplar takes both from the ad',
            p_generated_ad_id
            USING ERRCODE = 'GN712', HINT = 'the embed stage writes them (genome.record_embedding)';
    END IF;

    -- One library change per brand at a time, so two concurrent adds cannot both pass a limit.
    PERFORM pg_advisory_xact_lock(hashtextextended('genome.exemplars:' || v_ad.brand_id::text, 0));
    IF EXISTS (
        SELECT 1 FROM genome.ad_quality_exemplars AS e
        WHERE e.generated_ad_id = p_generated_ad_id AND e.is_active
    ) THEN
        RAISE EXCEPTION 'ad % is already an active exemplar', p_generated_ad_id USING ERRCODE = 'GN714';
    END IF;
    SELECT count(*) FILTER (WHERE e.exemplar_type = p_exemplar_type), count(*)
    INTO v_type_n, v_total_n
    FROM genome.ad_quality_exemplars AS e
    WHERE e.brand_id = v_ad.brand_id AND e.is_active;
    v_type_limit := genome._setting_num('exemplar_limit_' || p_exemplar_type)::integer;
    IF v_type_n >= v_type_limit THEN
        RAISE EXCEPTION 'brand % already has % active % exemplars (limit %)',
            v_ad.brand_id, v_type_n, p_exemplar_type, v_type_limit
            USING ERRCODE = 'GN713', HINT = 'retire one first with genome.retire_exemplar';
    END IF;
    IF v_total_n >= v_total_limit THEN
        RAISE EXCEPTION 'brand % already has % active exemplars in all (limit %)',
            v_ad.brand_id, v_total_n, v_total_limit
            USING ERRCODE = 'GN713', HINT = 'retire one first with genome.retire_exemplar';
    END IF;

    INSERT INTO genome.ad_quality_exemplars (
        organization_id, brand_id, generated_ad_id, exemplar_type, visual_description, quality_notes,
        check_scores, exemplar_embedding, embedding_model, is_active, created_at
    )
    SELECT
        v_ad.organization_id,
        v_ad.brand_id,
        p_generated_ad_id,
        p_exemplar_type,
        (
            SELECT string_agg(
                d.key || ': ' || CASE jsonb_typeof(d.value)
                    WHEN 'array' THEN (
                        SELECT string_agg(coalesce(x.value #>> '{}', 'null'), ', ' ORDER BY x.ord)
                        FROM jsonb_array_elements(d.value) WITH ORDINALITY AS x (value, ord)
                    )
                    ELSE coalesce(d.value #>> '{}', 'null')
                END,
                '; ' ORDER BY d.key
            )
            FROM jsonb_each(v_ad.visual_descriptor) AS d
        ),
        btrim(p_quality_notes),
        -- The AI's check scores with the latest human corrections of them on top.
        coalesce(v_ad.review_check_scores, '{}') || coalesce((
            SELECT o.check_overrides
            FROM genome.ad_review_overrides AS o
            WHERE o.generated_ad_id = p_generated_ad_id
            ORDER BY o.created_at DESC, o.id DESC
            LIMIT 1
        ), '{}'),
        v_ad.visual_embedding,
        v_ad.visual_embedding_model,
        true,
        p_now
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome.add_exemplar(uuid, text, text, timestamptz) IS
'Adds an ad to its brand''s few-shot exemplar library (docs/quality.md#exemplar-library) and returns the exemplar id. visual_description is the ad''s visual_descriptor as "key: value; ..." text (arrays comma-joined), the embedding and its model are the ad''s, check_scores are the ad''s review check scores with the latest human check overrides on top. Limits per brand on active exemplars (settings): exemplar_limit_gold_approve 10, exemplar_limit_gold_reject 10, exemplar_limit_edge_case 10, exemplar_limit_total 30; beyond them it refuses (retire one with genome.retire_exemplar). Serialised per brand by an advisory lock. Errors: GN004 NULL or infinite p_now; GN005 NULL ad; GN006 unknown ad; GN710 exemplar type not gold_approve / gold_reject / edge_case; GN711 empty quality notes; GN712 ad without visual descriptor or embedding; GN713 a limit reached; GN714 ad already an active exemplar.';
