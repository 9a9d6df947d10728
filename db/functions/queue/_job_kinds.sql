CREATE OR REPLACE FUNCTION genome._job_kinds()
RETURNS text []
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = genome, public
AS $$
    SELECT ARRAY['generate', 'defect_scan', 'review', 'second_opinion', 'embed', 'noop']::text [];
$$;
COMMENT ON FUNCTION genome._job_kinds() IS
'Internal: the agent job kinds, in pipeline order (generate -> defect_scan -> review -> second_opinion -> embed; noop for tests and probes).';
