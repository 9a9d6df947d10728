CREATE OR REPLACE FUNCTION genome._reviewer_name(p_review jsonb, p_call jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = genome, public
AS $$
    SELECT CASE
        WHEN lower(coalesce(p_review ->> 'reviewer', '')) IN ('claude', 'gemini', 'offline')
            THEN lower(p_review ->> 'reviewer')
        WHEN lower(c.provider) LIKE '%anthropic%' OR lower(c.provider) LIKE '%claude%' THEN 'claude'
        WHEN lower(c.provider) LIKE '%gemini%' OR lower(c.provider) LIKE '%google%' THEN 'gemini'
        WHEN lower(c.provider) LIKE '%offline%' THEN 'offline'
    END
    FROM (
        SELECT (CASE jsonb_typeof(p_call) WHEN 'array' THEN p_call -> 0 ELSE p_call END) ->> 'provider' AS provider
    ) AS c;
$$;
COMMENT ON FUNCTION genome._reviewer_name(jsonb, jsonb) IS
'Internal: which reviewer (claude, gemini or offline) wrote a review: review.reviewer when given, else derived from the call''s provider. NULL when unknown.';
