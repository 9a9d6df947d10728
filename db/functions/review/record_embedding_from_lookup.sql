-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.record_embedding_from_lookup(uuid, text, timestamptz);

CREATE OR REPLACE FUNCTION genome.record_embedding_from_lookup(
    p_job_id uuid,
    p_worker text,
    p_now timestamptz DEFAULT now(),
    p_lease_token uuid DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
DECLARE
    v_job genome.agent_jobs;
    v_lookup genome.ad_visual_lookups;
BEGIN
    PERFORM genome._require_server_time(p_now);
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['embed'], p_lease_token);
    IF v_job.status = 'succeeded' THEN
        RETURN (SELECT g.final_status FROM public.generated_ads AS g WHERE g.id = v_job.generated_ad_id);
    END IF;
    SELECT l.* INTO v_lookup FROM genome.ad_visual_lookups AS l WHERE l.generated_ad_id = v_job.generated_ad_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ad % of job % has no visual lookup from its review to reuse', v_job.generated_ad_id, p_job_id
            USING ERRCODE = 'GN409', HINT = 'describe and embed the image (genome.record_embedding)';
    END IF;
    RETURN genome._store_ad_embedding(
        v_job,
        v_lookup.visual_descriptor,
        v_lookup.visual_embedding,
        v_lookup.embedding_model,
        jsonb_build_object('embedding_model', v_lookup.embedding_model, 'from_lookup_of_job', v_lookup.agent_job_id),
        p_now
    );
END
$$;
COMMENT ON FUNCTION genome.record_embedding_from_lookup(uuid, text, timestamptz, uuid) IS
'Embed stage without model calls, in one transaction: when the review agent already described and embedded the ad''s image (genome.ad_visual_lookups, written through genome.review_exemplars), checks the lease, stores that descriptor, embedding and model on the ad, completes the job and runs the duplicate / diversity checks. Returns the ad''s status. A repeated call by the worker that completed the job writes nothing. Errors: GN403 unknown job; GN404 lease not held; GN405 not an embed job; GN409 no lookup stored for the ad. GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
