CREATE OR REPLACE FUNCTION genome._store_ad_embedding(
    p_job genome.agent_jobs,
    p_descriptor jsonb,
    p_embedding vector,
    p_model text,
    p_result jsonb,
    p_now timestamptz
)
RETURNS text
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
BEGIN
    UPDATE public.generated_ads AS g
    SET visual_descriptor = p_descriptor,
        visual_embedding = p_embedding,
        visual_embedding_model = p_model
    WHERE g.id = p_job.generated_ad_id;
    PERFORM genome._finish_job(p_job.id, p_result, p_now);
    RETURN genome._apply_embedding_decision(p_job.generated_ad_id, p_now);
END
$$;
COMMENT ON FUNCTION genome._store_ad_embedding(genome.agent_jobs, jsonb, vector, text, jsonb, timestamptz) IS
'Internal (embed stage): store the descriptor, embedding and model on the job''s ad, complete the job with p_result and run the duplicate / diversity checks (genome._apply_embedding_decision). Returns the ad''s status.';
