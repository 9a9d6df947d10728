-- Few-shot exemplars for a review prompt: the brand's active exemplars nearest the ad.

CREATE OR REPLACE FUNCTION genome.similar_exemplars(p_generated_ad_id uuid, p_k integer DEFAULT 5)
RETURNS TABLE (
    exemplar_id uuid,
    exemplar_type text,
    visual_description text,
    quality_notes text,
    check_scores jsonb,
    similarity double precision,
    source_ad_id uuid,
    ranked_by text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_ad record;
BEGIN
    PERFORM genome._require_knn_k(p_k);
    PERFORM genome._require_ad(p_generated_ad_id);
    SELECT g.visual_embedding AS embedding, g.visual_embedding_model AS model, p.brand_id
    INTO v_ad
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE g.id = p_generated_ad_id;
    IF v_ad.embedding IS NOT NULL THEN
        RETURN QUERY
        SELECT * FROM genome._nearest_exemplars(
            v_ad.brand_id, v_ad.embedding, v_ad.model, p_generated_ad_id, p_k
        );
        RETURN;
    END IF;

    -- Not embedded yet (the pipeline embeds approved ads after review): no similarity exists,
    -- so the prompt still gets the brand's bar, the newest exemplar of each type in turn.
    RETURN QUERY
    SELECT
        x.id,
        x.exemplar_type,
        x.visual_description,
        x.quality_notes,
        x.check_scores,
        NULL::double precision,
        x.generated_ad_id,
        'newest_per_type'::text
    FROM (
        SELECT
            e.*,
            row_number() OVER (PARTITION BY e.exemplar_type ORDER BY e.created_at DESC, e.id) AS turn
        FROM genome.ad_quality_exemplars AS e
        WHERE e.brand_id = v_ad.brand_id AND e.is_active AND e.generated_ad_id <> p_generated_ad_id
    ) AS x
    ORDER BY x.turn, array_position(ARRAY['gold_approve', 'gold_reject', 'edge_case'], x.exemplar_type)
    LIMIT p_k;
END
$$;
COMMENT ON FUNCTION genome.similar_exemplars(uuid, integer) IS
'The p_k (default 5) active exemplars of the ad''s brand most similar to the ad, for the review prompt (docs/quality.md#exemplar-library). With an embedded ad: exemplars embedded by the same model, nearest first by cosine distance through the HNSW index (ORDER BY exemplar_embedding <=> embedding LIMIT k, iterative scan in strict order, ef_search = max(k, settings knn_ef_search)); similarity = 1 - cosine distance, ranked_by = cosine. With an ad not embedded yet (the pipeline embeds after review): the newest exemplar of each type in turn (gold_approve, gold_reject, edge_case), similarity NULL, ranked_by = newest_per_type; the review agent avoids this case by embedding the ad itself (genome.review_exemplars). The ad itself is never returned. Columns: exemplar_id, exemplar_type, visual_description, quality_notes, check_scores, similarity, source_ad_id, ranked_by. Errors: GN005 NULL ad; GN006 unknown ad; GN730 k outside 1..settings knn_max_k.';
