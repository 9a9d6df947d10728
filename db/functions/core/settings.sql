-- Typed access to genome.settings.

CREATE OR REPLACE FUNCTION genome._setting(p_key text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v jsonb;
BEGIN
    SELECT s.value INTO v FROM genome.settings AS s WHERE s.key = p_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown genome setting %', p_key USING ERRCODE = 'GN090';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION genome._setting(text) IS
'Internal: the jsonb value of a genome.settings row. GN090: unknown key.';

CREATE OR REPLACE FUNCTION genome._setting_num(p_key text)
RETURNS double precision
LANGUAGE sql
STABLE
SET search_path = genome, public
AS $$
    SELECT (genome._setting(p_key))::text::double precision;
$$;
COMMENT ON FUNCTION genome._setting_num(text) IS 'Internal: a numeric genome setting.';
