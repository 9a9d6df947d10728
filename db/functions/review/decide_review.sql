CREATE OR REPLACE FUNCTION genome._decide_review(p_generated_ad_id uuid)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_ad(p_generated_ad_id);
    RETURN (SELECT o.status FROM genome._review_outcome(p_generated_ad_id) AS o);
END
$$;
COMMENT ON FUNCTION genome._decide_review(uuid) IS
'Internal: the body of genome.decide_review, for the agents'' definer functions (they run as the owner, with no organization set). The three-stage review decision of an ad, recomputed from its stored defect scan and reviews (each review under the quality config it was scored with) and its dead jobs: pending, approved, rejected, flagged, review_failed or generation_failed. Reads only, so calling it again gives the same answer. The post-embedding duplicate / diversity checks are not part of it. Errors: GN005 NULL ad; GN006 unknown ad.';

-- The app's entry (SECURITY DEFINER, owned by genome_api, docs/security.md#roles): row-level
-- security of the caller's organization applies inside; the agents call the twin.
CREATE OR REPLACE FUNCTION genome.decide_review(p_generated_ad_id uuid)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT genome._decide_review(p_generated_ad_id)
$$;
COMMENT ON FUNCTION genome.decide_review(uuid) IS
'The three-stage review decision of an ad, recomputed from its stored defect scan and reviews (each review under the quality config it was scored with) and its dead jobs: pending, approved, rejected, flagged, review_failed or generation_failed. Reads only, so calling it again gives the same answer. The post-embedding duplicate / diversity checks are not part of it. Errors: GN005 NULL ad; GN006 unknown ad.';
