-- The signature before the lease token (docs/security.md#definer-functions).
DROP FUNCTION IF EXISTS genome.record_embedding(uuid, text, jsonb, vector, text, jsonb, timestamptz);

CREATE OR REPLACE FUNCTION genome.record_embedding(
    p_job_id uuid,
    p_worker text,
    p_descriptor jsonb,
    p_embedding vector,
    p_model text,
    p_call jsonb,
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
BEGIN
    PERFORM genome._require_server_time(p_now);
    PERFORM genome._check_payload_size(p_descriptor::text, 'visual descriptor');
    PERFORM genome._check_payload_size(p_call::text, 'model call record');
    v_job := genome._hold_lease(p_job_id, p_worker, ARRAY['embed'], p_lease_token);
    IF v_job.status = 'succeeded' THEN
        RETURN (SELECT g.final_status FROM public.generated_ads AS g WHERE g.id = v_job.generated_ad_id);
    END IF;
    PERFORM genome._require_descriptor(p_descriptor, format('visual descriptor of job %s', p_job_id));
    PERFORM genome._require_embedding(p_embedding, p_model, format('embedding of job %s', p_job_id));
    PERFORM genome._record_calls(v_job, p_call, p_now);
    RETURN genome._store_ad_embedding(
        v_job, p_descriptor, p_embedding, p_model, jsonb_build_object('embedding_model', p_model), p_now
    );
END
$$;
COMMENT ON FUNCTION genome.record_embedding(uuid, text, jsonb, vector, text, jsonb, timestamptz, uuid) IS
'Embed stage result, in one transaction: checks the lease, stores the visual descriptor, the 1536-dimension embedding and its model on the ad, records the call(s) (descriptor and embedding: an array), completes the job and runs the duplicate / diversity checks of an approved ad (genome._apply_embedding_decision). Returns the ad''s status. A repeated call by the worker that completed the job writes nothing. Errors: GN403 unknown job; GN404 lease not held; GN405 not an embed job; GN408 malformed call record; GN409 empty descriptor, wrong dimensions, zero or NaN vector, or no model. GN413 an argument larger than settings max_payload_bytes (default 1 MiB). GN420 p_now other than now() from a caller other than the owner. p_lease_token: the token claim_jobs returned with the lease; without it (a caller other than the owner) the lease counts as not held, whatever p_worker says.';
