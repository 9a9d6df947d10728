-- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
-- (PostgreSQL 15 keeps no plan for it), which cost more than the work; PL/pgSQL keeps it.
CREATE OR REPLACE FUNCTION genome._call_problem(p_call jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
BEGIN
    RETURN CASE
        WHEN p_call IS NULL OR jsonb_typeof(p_call) <> 'object' THEN 'a call must be a JSON object'
        WHEN coalesce(btrim(p_call ->> 'provider'), '') = '' THEN 'call.provider is missing'
        WHEN coalesce(btrim(p_call ->> 'model'), '') = '' THEN 'call.model is missing'
        WHEN coalesce(btrim(p_call ->> 'operation'), '') = '' THEN 'call.operation is missing'
        WHEN jsonb_typeof(p_call -> 'latency_ms') IS DISTINCT FROM 'number'
            OR (p_call ->> 'latency_ms')::numeric < 0
            OR (p_call ->> 'latency_ms')::numeric <> trunc((p_call ->> 'latency_ms')::numeric)
            THEN 'call.latency_ms must be a whole number >= 0'
        WHEN coalesce(jsonb_typeof(p_call -> 'input_tokens'), 'number') <> 'number'
            OR coalesce(jsonb_typeof(p_call -> 'output_tokens'), 'number') <> 'number'
            OR coalesce((p_call ->> 'input_tokens')::numeric, 0) < 0
            OR coalesce((p_call ->> 'output_tokens')::numeric, 0) < 0
            OR coalesce((p_call ->> 'input_tokens')::numeric, 0)
            <> trunc(coalesce((p_call ->> 'input_tokens')::numeric, 0))
            OR coalesce((p_call ->> 'output_tokens')::numeric, 0)
            <> trunc(coalesce((p_call ->> 'output_tokens')::numeric, 0))
            THEN 'call tokens must be whole numbers >= 0'
        WHEN coalesce(jsonb_typeof(p_call -> 'cost_usd'), 'number') <> 'number'
            OR coalesce((p_call ->> 'cost_usd')::numeric, 0) < 0
            THEN 'call.cost_usd must be a number >= 0'
        WHEN coalesce(jsonb_typeof(p_call -> 'ok'), 'boolean') <> 'boolean'
            THEN 'call.ok must be true or false'
        WHEN coalesce(jsonb_typeof(p_call -> 'error'), 'null') NOT IN ('null', 'string')
            THEN 'call.error must be text'
        WHEN (p_call ->> 'ok')::boolean IS FALSE AND coalesce(btrim(p_call ->> 'error'), '') = ''
            THEN 'a failed call (ok false) must name its error class'
    END;
END
$$;
COMMENT ON FUNCTION genome._call_problem(jsonb) IS
'Internal: what is wrong with one model-call record (provider, model, operation, latency_ms, input_tokens, output_tokens, cost_usd, ok, error), or NULL when it is valid.';
