CREATE OR REPLACE FUNCTION genome._queue_setting(p_key text, p_default numeric)
RETURNS numeric
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT coalesce(
        (SELECT (s.value #>> '{}')::numeric FROM genome.settings AS s WHERE s.key = p_key),
        p_default
    );
$$;
COMMENT ON FUNCTION genome._queue_setting(text, numeric) IS
'Internal: a numeric value of genome.settings (job_max_attempts, job_backoff_base_seconds, duplicate_cosine, diversity_cosine ...), or the default when the row is missing.';
