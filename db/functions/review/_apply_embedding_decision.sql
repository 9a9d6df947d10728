CREATE OR REPLACE FUNCTION genome._apply_embedding_decision(p_generated_ad_id uuid, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = genome, public
-- Should the planner take the HNSW index for the sibling query, a filtered walk keeps going
-- until a row passes the filter (pgvector >= 0.8); set for this function only, not for the
-- rest of the caller's transaction.
SET "hnsw.iterative_scan" = 'strict_order'
AS $$
DECLARE
    v_ad record;
    v_near record;
    v_status text;
    v_reason text;
BEGIN
    SELECT g.id, g.ad_run_id, g.final_status, g.human_override_status, g.visual_embedding,
           g.visual_embedding_model, p.brand_id
    INTO v_ad
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    WHERE g.id = p_generated_ad_id;
    IF v_ad.final_status <> 'approved' OR v_ad.human_override_status IS NOT NULL
       OR v_ad.visual_embedding IS NULL THEN
        RETURN v_ad.final_status;
    END IF;

    -- One embedding decision per brand at a time, so two near-identical ads embedded
    -- concurrently cannot both miss each other.
    PERFORM pg_advisory_xact_lock(hashtextextended('genome.embedding_decision:' || v_ad.brand_id::text, 0));

    -- Diversity: the nearest embedded sibling of the same run (same embedding model).
    -- Each distance is computed once (the similarity is 1 - the distance of the one row
    -- kept): a candidate's embedding is stored out of line, and every distance reads it
    -- from TOAST again.
    SELECT n.id, 1 - n.distance AS similarity
    INTO v_near
    FROM (
        SELECT s.id, s.visual_embedding <=> v_ad.visual_embedding AS distance
        FROM public.generated_ads AS s
        WHERE s.ad_run_id = v_ad.ad_run_id
          AND s.id <> v_ad.id
          AND s.visual_embedding_model = v_ad.visual_embedding_model
          AND s.final_status IN ('approved', 'flagged')
        ORDER BY distance
        LIMIT 1
    ) AS n;
    IF v_near.id IS NOT NULL
       AND v_near.similarity > genome._setting_num('diversity_cosine') THEN
        v_status := 'rejected';
        v_reason := format(
            'diversity: cosine %s to sibling %s of the same run > %s',
            round(v_near.similarity::numeric, 4), v_near.id, genome._setting_text('diversity_cosine')
        );
    ELSE
        -- Duplicate: the nearest approved ad of the same brand (same embedding model),
        -- through the HNSW index; exactly when its bounded walk found none of the brand's
        -- ads (a brand with few ads among many, docs/quality.md#visual-space).
        SELECT n.id, 1 - n.distance AS similarity
        INTO v_near
        FROM genome._nearest_approved_by_index(
            v_ad.id, v_ad.brand_id, v_ad.visual_embedding, v_ad.visual_embedding_model
        ) AS n;
        IF NOT FOUND THEN
            SELECT n.id, 1 - n.distance AS similarity
            INTO v_near
            FROM (
                SELECT d.id, d.visual_embedding <=> v_ad.visual_embedding AS distance
                FROM public.generated_ads AS d
                WHERE d.final_status = 'approved'
                  AND d.id <> v_ad.id
                  AND d.visual_embedding_model = v_ad.visual_embedding_model
                  AND d.ad_run_id IN (
                      SELECT r.id FROM public.ad_runs AS r
                      INNER JOIN public.products AS p ON r.product_id = p.id
                      WHERE p.brand_id = v_ad.brand_id
                  )
                ORDER BY distance
                LIMIT 1
            ) AS n;
        END IF;
        IF v_near.id IS NOT NULL
           AND v_near.similarity > genome._setting_num('duplicate_cosine') THEN
            v_status := 'flagged';
            v_reason := format(
                'duplicate: cosine %s to approved ad %s of the same brand > %s',
                round(v_near.similarity::numeric, 4), v_near.id, genome._setting_text('duplicate_cosine')
            );
        END IF;
    END IF;

    IF v_status IS NULL THEN
        RETURN 'approved';
    END IF;
    UPDATE public.generated_ads AS g
    SET final_status = v_status,
        decision_reason = concat_ws('; ', g.decision_reason, v_reason),
        decided_at = p_now
    WHERE g.id = p_generated_ad_id;
    RETURN v_status;
END
$$;
COMMENT ON FUNCTION genome._apply_embedding_decision(uuid, timestamptz) IS
'Internal: the post-embedding checks of an approved ad without a human decision, one brand at a time (advisory lock): rejected for diversity when an embedded sibling of the same run (approved or flagged) has cosine similarity > settings diversity_cosine; else flagged as duplicate when an approved ad of the same brand has cosine similarity > settings duplicate_cosine. Only embeddings of the same model are compared; the duplicate''s nearest neighbour comes from the HNSW index on generated_ads.visual_embedding (genome._nearest_approved_by_index), or from an exact scan of the brand''s approved ads when its bounded walk finds none. Returns the ad''s status.';
