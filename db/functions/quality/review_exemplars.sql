-- Few-shot exemplars for the review agent. The pipeline embeds approved ads after review,
-- so at review time the ad has no stored embedding; the agent describes and embeds the
-- image itself and passes the vector here, which keeps it (genome.ad_visual_lookups) for the
-- second opinion and the embed stage. Definer rights with a lease check: the agent role
-- reads exemplars only of the ad whose review job it holds.

-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.review_exemplars(uuid, text, vector, text, integer, jsonb);

CREATE OR REPLACE FUNCTION genome.review_exemplars(
    p_job_id uuid,
    p_worker text,
    p_embedding vector,
    p_model text,
    p_k integer DEFAULT 5,
    p_descriptor jsonb DEFAULT NULL,
    p_lease_token uuid DEFAULT NULL
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
    v_embedding vector := p_embedding;
    v_model text := p_model;
BEGIN
    PERFORM genome._require_knn_k(p_k);
    PERFORM genome._check_payload_size(p_descriptor::text, 'visual descriptor');
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['review', 'second_opinion'], p_lease_token);
    IF p_embedding IS NULL AND p_model IS NULL AND p_descriptor IS NULL THEN
        -- Reuse what an earlier review of this ad stored.
        SELECT l.visual_embedding, l.embedding_model INTO v_embedding, v_model
        FROM genome.ad_visual_lookups AS l WHERE l.generated_ad_id = v_job.generated_ad_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no embedding given for job % and none stored for ad %', p_job_id, v_job.generated_ad_id
                USING ERRCODE = 'GN409';
        END IF;
    ELSE
        PERFORM genome._require_embedding(
            p_embedding, p_model, format('the embedding for the exemplars of job %s', p_job_id)
        );
        IF p_descriptor IS NOT NULL THEN
            PERFORM genome._require_descriptor(
                p_descriptor, format('the visual descriptor for the exemplars of job %s', p_job_id)
            );
            INSERT INTO genome.ad_visual_lookups AS l (
                generated_ad_id, visual_descriptor, visual_embedding, embedding_model, agent_job_id
            )
            VALUES (v_job.generated_ad_id, p_descriptor, p_embedding, p_model, v_job.id)
            ON CONFLICT (generated_ad_id) DO UPDATE
            SET visual_descriptor = excluded.visual_descriptor,
                visual_embedding = excluded.visual_embedding,
                embedding_model = excluded.embedding_model,
                agent_job_id = excluded.agent_job_id,
                created_at = now();
        END IF;
    END IF;
    SELECT p.brand_id INTO v_brand_id
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE g.id = v_job.generated_ad_id;
    RETURN QUERY
    SELECT * FROM genome._nearest_exemplars(v_brand_id, v_embedding, v_model, v_job.generated_ad_id, p_k);
END
$$;
COMMENT ON FUNCTION genome.review_exemplars(uuid, text, vector, text, integer, jsonb, uuid) IS
'For the review agent (its prompt gets the most similar exemplars, docs/quality.md#exemplar-library): the p_k (default 5) active exemplars of the brand of the ad of review or second_opinion job p_job_id, embedded by p_model, nearest p_embedding (the agent''s own embedding of the image under review: the ad''s stored embedding is only made after approval) by cosine distance through the HNSW index; the same columns as genome.similar_exemplars, ranked_by = cosine. With p_descriptor, the descriptor, embedding and model are kept in genome.ad_visual_lookups for the ad (replacing an earlier one); with p_embedding, p_model and p_descriptor all NULL, the ad''s kept lookup is used, so a second opinion or a retry pays no new describe or embedding call. Errors: GN403 unknown job; GN404 lease not held by p_worker; GN405 not a review job; GN409 embedding not 1536 dimensions, zero or NaN, no model, an empty descriptor, or nothing given and nothing kept; GN413 descriptor larger than settings max_payload_bytes; GN730 k outside 1..settings knn_max_k. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
