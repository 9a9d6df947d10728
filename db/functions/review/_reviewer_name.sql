-- PL/pgSQL, not SQL: a SQL function with a SET clause is planned again on every call
-- (PostgreSQL 15 keeps no plan for it), which cost more than the work; PL/pgSQL keeps it.
CREATE OR REPLACE FUNCTION genome._reviewer_name(p_review jsonb, p_call jsonb)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
SET search_path = genome, public
AS $$
DECLARE
    v_provider text := lower(
        (CASE jsonb_typeof(p_call) WHEN 'array' THEN p_call -> 0 ELSE p_call END) ->> 'provider'
    );
BEGIN
    RETURN CASE
        WHEN lower(coalesce(p_review ->> 'reviewer', '')) IN ('claude', 'gemini', 'offline')
            THEN lower(p_review ->> 'reviewer')
        WHEN v_provider LIKE '%anthropic%' OR v_provider LIKE '%claude%' THEN 'claude'
        WHEN v_provider LIKE '%gemini%' OR v_provider LIKE '%google%' THEN 'gemini'
        WHEN v_provider LIKE '%offline%' THEN 'offline'
    END;
END
$$;
COMMENT ON FUNCTION genome._reviewer_name(jsonb, jsonb) IS
'Internal: which reviewer (claude, gemini or offline) wrote a review: review.reviewer when given, else derived from the call''s provider. NULL when unknown.';
