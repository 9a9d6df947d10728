-- Few-shot exemplars for the review agent. The pipeline embeds approved ads after review,
-- so at review time the ad has no stored embedding; the agent describes and embeds the
-- image itself and passes the vector here. Definer rights with a lease check: the agent
-- role reads exemplars only of the ad whose review job it holds.

CREATE OR REPLACE FUNCTION genome.review_exemplars(
    p_job_id uuid,
    p_worker text,
    p_embedding vector,
    p_model text,
    p_k integer DEFAULT 5
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
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
    v_brand_id uuid;
BEGIN
    PERFORM genome._require_knn_k(p_k);
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['review', 'second_opinion']);
    PERFORM genome._require_embedding(
        p_embedding, p_model, format('the embedding for the exemplars of job %s', p_job_id)
    );
    SELECT p.brand_id INTO v_brand_id
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE g.id = v_job.generated_ad_id;
    RETURN QUERY
    SELECT * FROM genome._nearest_exemplars(v_brand_id, p_embedding, p_model, v_job.generated_ad_id, p_k);
END
$$;
COMMENT ON FUNCTION genome.review_exemplars(uuid, text, vector, text, integer) IS
'For the review agent (seed 6b tier 3: the review prompt gets the 3-5 most similar exemplars): the p_k (default 5) active exemplars of the brand of the ad of review or second_opinion job p_job_id, embedded by p_model, nearest p_embedding (the agent''s own embedding of the image under review: the ad''s stored embedding is only made after approval) by cosine distance through the HNSW index; the same columns as genome.similar_exemplars, ranked_by = cosine. Writes nothing. Errors: GN403 unknown job; GN404 lease not held by p_worker; GN405 not a review job; GN409 embedding not 1536 dimensions, zero or NaN, or no model; GN730 k outside 1..settings knn_max_k.';
