CREATE OR REPLACE FUNCTION genome._require_descriptor(p_descriptor jsonb, p_subject text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_descriptor IS NULL OR jsonb_typeof(p_descriptor) <> 'object' OR p_descriptor = '{}' THEN
        RAISE EXCEPTION '% must be a non-empty JSON object', p_subject USING ERRCODE = 'GN409';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_descriptor(jsonb, text) IS
'Internal: raise GN409 unless p_descriptor is a non-empty JSON object; p_subject names it in the message.';
