-- Take an exemplar out of the library (kept, inactive), freeing its place under the limits.

CREATE OR REPLACE FUNCTION genome.retire_exemplar(p_exemplar_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_brand uuid;
BEGIN
    PERFORM genome._require_not_null(p_exemplar_id, 'exemplar_id');
    SELECT e.brand_id INTO v_brand FROM genome.ad_quality_exemplars AS e WHERE e.id = p_exemplar_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown exemplar %', p_exemplar_id USING ERRCODE = 'GN715';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('genome.exemplars:' || v_brand::text, 0));
    UPDATE genome.ad_quality_exemplars AS e SET is_active = false WHERE e.id = p_exemplar_id;
END
$$;
COMMENT ON FUNCTION genome.retire_exemplar(uuid) IS
'Marks an exemplar inactive: similar_exemplars no longer returns it and it no longer counts towards the brand''s limits; the row is kept. Retiring an inactive exemplar changes nothing. Errors: GN005 NULL exemplar; GN715 unknown exemplar.';
