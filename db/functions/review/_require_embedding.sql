CREATE OR REPLACE FUNCTION genome._require_embedding(p_embedding vector, p_model text, p_subject text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_embedding IS NULL OR vector_dims(p_embedding) <> 1536 THEN
        RAISE EXCEPTION '% must have 1536 dimensions, got %',
            p_subject, coalesce(vector_dims(p_embedding)::text, 'none')
            USING ERRCODE = 'GN409';
    END IF;
    IF vector_norm(p_embedding) = 0 OR vector_norm(p_embedding) = 'NaN'::float8 THEN
        RAISE EXCEPTION '% has no direction (zero or NaN norm)', p_subject USING ERRCODE = 'GN409';
    END IF;
    IF p_model IS NULL OR btrim(p_model) = '' THEN
        RAISE EXCEPTION '% names no model', p_subject USING ERRCODE = 'GN409';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_embedding(vector, text, text) IS
'Internal: raise GN409 unless p_embedding has 1536 dimensions and a direction (norm neither 0 nor NaN) and p_model names its model; p_subject names the embedding in the message.';
