-- The one nearest-neighbour query over the exemplar library, shared by similar_exemplars
-- (an embedded ad) and review_exemplars (an ad being reviewed, embedded by its agent).

CREATE OR REPLACE FUNCTION genome._nearest_exemplars(
    p_brand_id uuid,
    p_embedding vector,
    p_model text,
    p_exclude_ad_id uuid,
    p_k integer
)
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
SET search_path = genome, public
SET "hnsw.iterative_scan" = 'strict_order'
SET "hnsw.ef_search" = 100
AS $$
BEGIN
    -- The HNSW candidate list, and (SET above) iterative scanning in exact distance order until
    -- k rows of the brand and model pass the filter; both end with the function.
    PERFORM set_config(
        'hnsw.ef_search', greatest(p_k, genome._setting_num('knn_ef_search')::integer)::text, true
    );
    RETURN QUERY
    SELECT
        e.id,
        e.exemplar_type,
        e.visual_description,
        e.quality_notes,
        e.check_scores,
        1 - (e.exemplar_embedding <=> p_embedding),
        e.generated_ad_id,
        'cosine'::text
    FROM genome.ad_quality_exemplars AS e
    WHERE
        e.brand_id = p_brand_id
        AND e.is_active
        AND e.embedding_model = p_model
        AND e.generated_ad_id IS DISTINCT FROM p_exclude_ad_id
    ORDER BY e.exemplar_embedding <=> p_embedding
    LIMIT p_k;
END
$$;
COMMENT ON FUNCTION genome._nearest_exemplars(uuid, vector, text, uuid, integer) IS
'Internal: the p_k active exemplars of a brand embedded by p_model nearest p_embedding by cosine distance through the HNSW index (iterative scan in strict order, ef_search = max(k, settings knn_ef_search)), never the exemplar made from p_exclude_ad_id; similarity = 1 - cosine distance, ranked_by = cosine. Runs with the caller''s rights (row-level security applies).';
