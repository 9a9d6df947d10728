CREATE OR REPLACE FUNCTION genome._require_knn_k(p_k integer)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_max_k integer := genome._setting_num('knn_max_k')::integer;
BEGIN
    IF p_k IS NULL OR p_k < 1 OR p_k > v_max_k THEN
        RAISE EXCEPTION 'k must be between 1 and % (settings knn_max_k), got %', v_max_k, coalesce(p_k::text, 'NULL')
            USING ERRCODE = 'GN730';
    END IF;
END
$$;
COMMENT ON FUNCTION genome._require_knn_k(integer) IS
'Internal: raise GN730 unless 1 <= p_k <= settings knn_max_k (the nearest-neighbour functions'' k).';
