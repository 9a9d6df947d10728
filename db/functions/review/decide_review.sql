CREATE OR REPLACE FUNCTION genome.decide_review(p_generated_ad_id uuid)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    IF p_generated_ad_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM public.generated_ads AS g WHERE g.id = p_generated_ad_id) THEN
        RAISE EXCEPTION 'unknown generated ad %', coalesce(p_generated_ad_id::text, 'NULL')
            USING ERRCODE = 'GN402';
    END IF;
    RETURN (SELECT o.status FROM genome._review_outcome(p_generated_ad_id) AS o);
END
$$;
COMMENT ON FUNCTION genome.decide_review(uuid) IS
'The three-stage review decision of an ad, recomputed from its stored defect scan and reviews (each review under the quality config it was scored with) and its dead jobs: pending, approved, rejected, flagged, review_failed or generation_failed. Reads only, so calling it again gives the same answer. The post-embedding duplicate / diversity checks are not part of it. Errors: GN402 unknown ad.';
