CREATE OR REPLACE FUNCTION genome._record_calls(p_job genome.agent_jobs, p_call jsonb, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_calls jsonb;
    v_problem text;
    v_count integer;
BEGIN
    v_calls := CASE jsonb_typeof(p_call) WHEN 'array' THEN p_call ELSE jsonb_build_array(p_call) END;
    IF jsonb_array_length(v_calls) = 0 THEN
        RAISE EXCEPTION 'job % result has no model call record', p_job.id USING ERRCODE = 'GN408';
    END IF;
    SELECT string_agg(format('call %s: %s', c.ord, genome._call_problem(c.value)), '; ')
    INTO v_problem
    FROM jsonb_array_elements(v_calls) WITH ORDINALITY AS c (value, ord)
    WHERE genome._call_problem(c.value) IS NOT NULL;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'malformed model call record for job %: %', p_job.id, v_problem
            USING ERRCODE = 'GN408';
    END IF;

    INSERT INTO genome.provider_calls (
        agent_job_id, generated_ad_id, operation, provider, model, ok, latency_ms,
        input_tokens, output_tokens, cost_usd, error, created_at
    )
    SELECT
        p_job.id,
        p_job.generated_ad_id,
        c.value ->> 'operation',
        c.value ->> 'provider',
        c.value ->> 'model',
        coalesce((c.value ->> 'ok')::boolean, true),
        (c.value ->> 'latency_ms')::numeric::integer,
        coalesce((c.value ->> 'input_tokens')::numeric::integer, 0),
        coalesce((c.value ->> 'output_tokens')::numeric::integer, 0),
        coalesce((c.value ->> 'cost_usd')::numeric, 0),
        left(c.value ->> 'error', 200),
        p_now
    FROM jsonb_array_elements(v_calls) AS c (value);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION genome._record_calls(genome.agent_jobs, jsonb, timestamptz) IS
'Internal: one genome.provider_calls row per billed model call of a job attempt (the record_* writers for a successful one, fail_job for a failed one); p_call is one call object or an array of them, each with ok (default true) and, for a failed call, the error class. Errors: GN408 no call or a malformed call record.';
