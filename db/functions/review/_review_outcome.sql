CREATE OR REPLACE FUNCTION genome._review_outcome(p_generated_ad_id uuid)
RETURNS TABLE (status text, reason text, next_kind text)
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_dead text [];
    v_generated boolean;
    v_scan genome.ad_defect_scans;
    v_first genome.ad_reviews;
    v_second genome.ad_reviews;
    v1 record;
    v2 record;
BEGIN
    SELECT g.storage_path IS NOT NULL INTO v_generated
    FROM public.generated_ads AS g WHERE g.id = p_generated_ad_id;
    SELECT coalesce(array_agg(j.kind), '{}') INTO v_dead
    FROM genome.agent_jobs AS j
    WHERE j.generated_ad_id = p_generated_ad_id AND j.status = 'dead';

    IF 'generate' = ANY (v_dead) THEN
        RETURN QUERY SELECT 'generation_failed'::text, 'generate job dead-lettered'::text, NULL::text;
        RETURN;
    END IF;

    -- Stage 1: any critical defect rejects at once; stages 2-3 are skipped.
    SELECT s.* INTO v_scan
    FROM genome.ad_defect_scans AS s
    WHERE s.generated_ad_id = p_generated_ad_id
    ORDER BY s.created_at DESC, s.id
    LIMIT 1;
    IF NOT FOUND THEN
        IF 'defect_scan' = ANY (v_dead) THEN
            RETURN QUERY SELECT 'review_failed'::text, 'defect_scan job dead-lettered'::text, NULL::text;
        ELSE
            RETURN QUERY SELECT 'pending'::text, 'awaiting defect scan'::text,
                CASE WHEN v_generated THEN 'defect_scan' END;
        END IF;
        RETURN;
    END IF;
    IF NOT v_scan.passed THEN
        RETURN QUERY SELECT 'rejected'::text,
            'defect scan: critical defect(s) ' || array_to_string(v_scan.defects_found, ', '),
            NULL::text;
        RETURN;
    END IF;

    -- Stage 2: the full review under the config it was scored with.
    SELECT r.* INTO v_first
    FROM genome.ad_reviews AS r
    WHERE r.generated_ad_id = p_generated_ad_id AND r.stage = 'review'
    ORDER BY r.created_at DESC, r.id
    LIMIT 1;
    IF NOT FOUND THEN
        IF 'review' = ANY (v_dead) THEN
            RETURN QUERY SELECT 'review_failed'::text, 'review job dead-lettered'::text, NULL::text;
        ELSE
            RETURN QUERY SELECT 'pending'::text, 'awaiting review'::text, 'review'::text;
        END IF;
        RETURN;
    END IF;
    SELECT * INTO v1 FROM genome._review_verdict(v_first.check_scores, v_first.config_id);
    IF v1.verdict = 'approve' THEN
        RETURN QUERY SELECT 'approved'::text, 'review: ' || v1.reason, NULL::text;
        RETURN;
    ELSIF v1.verdict = 'reject' THEN
        RETURN QUERY SELECT 'rejected'::text, 'review: ' || v1.reason, NULL::text;
        RETURN;
    END IF;

    -- Stage 3: borderline, so the other model gives a second opinion; OR logic.
    SELECT r.* INTO v_second
    FROM genome.ad_reviews AS r
    WHERE r.generated_ad_id = p_generated_ad_id AND r.stage = 'second_opinion'
    ORDER BY r.created_at DESC, r.id
    LIMIT 1;
    IF NOT FOUND THEN
        IF 'second_opinion' = ANY (v_dead) THEN
            RETURN QUERY SELECT 'review_failed'::text, 'second_opinion job dead-lettered'::text, NULL::text;
        ELSE
            RETURN QUERY SELECT 'pending'::text, 'review: ' || v1.reason || '; awaiting second opinion',
                'second_opinion'::text;
        END IF;
        RETURN;
    END IF;
    SELECT * INTO v2 FROM genome._review_verdict(v_second.check_scores, v_second.config_id);
    RETURN QUERY SELECT
        CASE v2.verdict WHEN 'approve' THEN 'approved' WHEN 'borderline' THEN 'flagged' ELSE 'rejected' END,
        format('review: %s; second opinion: %s', v1.reason, v2.reason),
        NULL::text;
END
$$;
COMMENT ON FUNCTION genome._review_outcome(uuid) IS
'Internal: the three-stage decision from the stored results, with its reason and the stage still to run. generation_failed / review_failed when a stage''s job is dead; stage 1 rejects on any critical defect; stage 2 approves or rejects by genome._review_verdict under the config stored with the review, or sends a borderline ad to stage 3; stage 3 uses OR logic (approved if the second opinion approves, flagged if both are borderline, rejected otherwise). status pending with next_kind while a stage is missing.';
