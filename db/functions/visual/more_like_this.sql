-- "More like this" (docs/quality.md#visual-space): the approved ads of the brand nearest an ad.

CREATE OR REPLACE FUNCTION genome.more_like_this(p_generated_ad_id uuid, p_k integer DEFAULT 10)
RETURNS TABLE (
    generated_ad_id uuid,
    similarity double precision,
    ad_run_id uuid,
    element_tags jsonb,
    storage_path text,
    visual_descriptor jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
SET "hnsw.iterative_scan" = 'strict_order'
SET "hnsw.ef_search" = 100
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
    IF v_ad.embedding IS NULL THEN
        RAISE EXCEPTION 'ad % has no visual embedding to compare', p_generated_ad_id
            USING ERRCODE = 'GN731', HINT = 'the embed stage writes it (genome.record_embedding)';
    END IF;
    PERFORM set_config(
        'hnsw.ef_search', greatest(p_k, genome._setting_num('knn_ef_search')::integer)::text, true
    );

    RETURN QUERY
    SELECT
        d.id,
        1 - (d.visual_embedding <=> v_ad.embedding),
        d.ad_run_id,
        d.element_tags,
        d.storage_path,
        d.visual_descriptor
    FROM public.generated_ads AS d
    WHERE
        d.final_status = 'approved'
        AND d.id <> p_generated_ad_id
        AND d.visual_embedding_model = v_ad.model
        AND d.ad_run_id IN (
            SELECT r.id
            FROM public.ad_runs AS r
            INNER JOIN public.products AS p ON r.product_id = p.id
            WHERE p.brand_id = v_ad.brand_id
        )
    ORDER BY d.visual_embedding <=> v_ad.embedding
    LIMIT p_k;
END
$$;
COMMENT ON FUNCTION genome.more_like_this(uuid, integer) IS
'The p_k (default 10) approved ads of the same brand nearest the ad (docs/quality.md#visual-space, winner evolution''s "more like this"): only embeddings of the same model, nearest first by cosine distance through the HNSW index on generated_ads.visual_embedding (iterative scan in strict order, ef_search = max(k, settings knn_ef_search)); similarity = 1 - cosine distance; the ad itself is left out. Errors: GN005 NULL ad; GN006 unknown ad; GN730 k outside 1..settings knn_max_k; GN731 the ad has no embedding.';
