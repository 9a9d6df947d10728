CREATE OR REPLACE FUNCTION genome.record_override(
    p_generated_ad_id uuid,
    p_human_status text,
    p_reason text,
    p_check_overrides jsonb,
    p_user text,
    p_now timestamptz DEFAULT now()
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_ad record;
    v_ai_status text;
    v_review genome.ad_reviews;
    v_config_id uuid;
    v_type text;
    v_problem text;
    v_checks jsonb := coalesce(p_check_overrides, '{}');
    v_id uuid;
BEGIN
    PERFORM genome._check_payload_size(concat(p_reason, p_user, p_check_overrides::text), 'override');
    PERFORM genome._require_ad(p_generated_ad_id);
    SELECT g.id, g.final_status, g.visual_embedding IS NOT NULL AS embedded, b.organization_id
    INTO v_ad
    FROM public.generated_ads AS g
    INNER JOIN public.ad_runs AS r ON g.ad_run_id = r.id
    INNER JOIN public.products AS p ON r.product_id = p.id
    INNER JOIN public.brands AS b ON p.brand_id = b.id
    WHERE g.id = p_generated_ad_id
    FOR UPDATE OF g;
    IF p_human_status IS NULL OR p_human_status NOT IN ('approved', 'rejected') THEN
        RAISE EXCEPTION 'human status must be approved or rejected, got %', coalesce(p_human_status, 'NULL')
            USING ERRCODE = 'GN410';
    END IF;
    IF jsonb_typeof(v_checks) <> 'object' THEN
        RAISE EXCEPTION 'check overrides must be a JSON object {check code: score 0-10}' USING ERRCODE = 'GN410';
    END IF;
    SELECT string_agg(format('%s = %s', c.key, c.value), ', ' ORDER BY c.key)
    INTO v_problem
    FROM jsonb_each(v_checks) AS c
    WHERE NOT EXISTS (SELECT 1 FROM genome.review_checks AS rc WHERE rc.code = c.key)
       OR jsonb_typeof(c.value) <> 'number'
       OR c.value::numeric NOT BETWEEN 0 AND 10;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'check overrides must map review check codes to scores 0-10: %', v_problem
            USING ERRCODE = 'GN410';
    END IF;
    IF v_ad.final_status IN ('pending', 'generation_failed') THEN
        RAISE EXCEPTION 'ad % is %: there is no AI decision to override', p_generated_ad_id, v_ad.final_status
            USING ERRCODE = 'GN411';
    END IF;

    -- The AI's decision is the status before the first human decision on this ad.
    v_ai_status := coalesce(
        (SELECT o.ai_status FROM genome.ad_review_overrides AS o
         WHERE o.generated_ad_id = p_generated_ad_id ORDER BY o.created_at, o.id LIMIT 1),
        v_ad.final_status
    );
    SELECT r.* INTO v_review
    FROM genome.ad_reviews AS r
    WHERE r.generated_ad_id = p_generated_ad_id AND r.stage = 'review'
    ORDER BY r.created_at DESC, r.id
    LIMIT 1;
    v_config_id := coalesce(v_review.config_id, (genome._ad_quality_config(p_generated_ad_id)).id);
    v_type := CASE
        WHEN p_human_status = 'approved' AND v_ai_status = 'approved' THEN 'confirm_approve'
        WHEN p_human_status = 'approved' THEN 'override_approve'
        WHEN v_ai_status = 'approved' THEN 'override_reject'
        ELSE 'confirm_reject'
    END;

    INSERT INTO genome.ad_review_overrides (
        organization_id, generated_ad_id, ai_status, ai_weighted_score, ai_check_scores, config_id,
        human_status, human_reason, override_type, check_overrides, overridden_by, created_at
    )
    VALUES (
        v_ad.organization_id, p_generated_ad_id, v_ai_status, v_review.weighted_score,
        v_review.check_scores, v_config_id, p_human_status, p_reason, v_type, v_checks, p_user, p_now
    )
    RETURNING id INTO v_id;

    UPDATE public.generated_ads AS g
    SET human_override_status = p_human_status,
        override_status = v_type,
        final_status = p_human_status,
        decision_reason = concat('human ', v_type, coalesce(': ' || nullif(p_reason, ''), '')),
        decided_at = p_now
    WHERE g.id = p_generated_ad_id;

    -- Approved ads carry an embedding (duplicates, clusters, exemplars); a human approval
    -- queues it, and the embed stage never overrides the human.
    IF p_human_status = 'approved' AND NOT v_ad.embedded THEN
        PERFORM genome._enqueue_job('embed', p_generated_ad_id, '{}', p_now);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION genome.record_override(uuid, text, text, jsonb, text, timestamptz) IS
'A human decision on an ad''s AI review (docs/quality.md#overrides), kept as history (one ad_review_overrides row per call). ai_status is the AI decision before any human one; override_type: confirm_approve (both approve), override_approve (human approves what the AI did not approve), override_reject (human rejects an AI approval), confirm_reject (neither approves). Stores the stage-2 review''s weighted score, check scores and config id (the active config when the ad never reached review), sets generated_ads.human_override_status, override_status and final_status, and queues the embed job of a human-approved ad without an embedding. p_check_overrides: {check code: human score 0-10}. Returns the override id. Errors: GN005 NULL ad; GN006 unknown ad; GN410 status not approved/rejected or malformed check overrides; GN411 ad still pending or generation_failed.';
