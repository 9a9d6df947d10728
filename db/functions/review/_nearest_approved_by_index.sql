CREATE OR REPLACE FUNCTION genome._nearest_approved_by_index(
    p_generated_ad_id uuid,
    p_brand_id uuid,
    p_embedding vector,
    p_model text
)
RETURNS TABLE (id uuid, distance double precision)
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
-- The HNSW index is the only plan left (docs/quality.md#visual-space): on one brand's ads
-- the planner's estimate of the filtered rows is far too low, so it would compute every
-- approved ad's distance, each reading a 6 KB embedding from TOAST.
SET enable_seqscan = off
SET enable_sort = off
SET "hnsw.iterative_scan" = 'strict_order'
-- Declared so that the set_config below ends with the function.
SET "hnsw.max_scan_tuples" = 20000
AS $$
BEGIN
    -- A bound on the graph walk: a brand with few ads among many is cheaper to scan
    -- exactly, which the caller does when no row comes back.
    PERFORM set_config(
        'hnsw.max_scan_tuples', genome._setting_int('duplicate_index_max_tuples')::text, true
    );
    RETURN QUERY
    SELECT d.id, d.visual_embedding <=> p_embedding
    FROM public.generated_ads AS d
    WHERE d.final_status = 'approved'
      AND d.id <> p_generated_ad_id
      AND d.visual_embedding_model = p_model
      AND d.ad_run_id IN (
          SELECT r.id FROM public.ad_runs AS r
          INNER JOIN public.products AS p ON r.product_id = p.id
          WHERE p.brand_id = p_brand_id
      )
    ORDER BY d.visual_embedding <=> p_embedding
    LIMIT 1;
END
$$;
COMMENT ON FUNCTION genome._nearest_approved_by_index(uuid, uuid, vector, text) IS
'Internal (docs/quality.md#visual-space): the approved ad of brand p_brand_id nearest p_embedding by cosine distance among embeddings of model p_model (the ad p_generated_ad_id left out), found through the HNSW index on generated_ads.visual_embedding (iterative scan in strict order, at most settings duplicate_index_max_tuples index tuples walked after the first ef_search candidates). No row when the walk ends before an ad of the brand passes the filter: the caller then scans the brand''s ads exactly.';
