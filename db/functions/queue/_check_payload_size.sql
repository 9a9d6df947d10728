CREATE OR REPLACE FUNCTION genome._check_payload_size(p_value text, p_what text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_limit bigint := genome._setting_num('max_payload_bytes')::bigint;
BEGIN
    IF p_value IS NOT NULL AND octet_length(p_value) > v_limit THEN
        RAISE EXCEPTION '% is too large: % bytes, the limit is % bytes', p_what, octet_length(p_value), v_limit
            USING ERRCODE = 'GN413',
                  HINT = 'settings max_payload_bytes; store large artefacts (images) in storage and pass their path';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._check_payload_size(text, text) IS
'Internal: GN413 when p_value (a payload, result, model output or prompt, as text) is longer than settings max_payload_bytes (1 MiB as shipped); called first by enqueue_job, complete_job and the record_* writers, so an oversized input writes nothing.';
