CREATE OR REPLACE FUNCTION genome._apply_review_decision(p_generated_ad_id uuid, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_outcome record;
BEGIN
    SELECT o.* INTO v_outcome FROM genome._review_outcome(p_generated_ad_id) AS o;
    IF v_outcome.status = 'pending' THEN
        IF v_outcome.next_kind IS NOT NULL THEN
            PERFORM genome._enqueue_job(v_outcome.next_kind, p_generated_ad_id, '{}', p_now);
        END IF;
        RETURN 'pending';
    END IF;

    -- A human decision is never overwritten, nor is a decision already made.
    UPDATE public.generated_ads AS g
    SET final_status = v_outcome.status,
        decision_reason = v_outcome.reason,
        decided_at = p_now
    WHERE g.id = p_generated_ad_id
      AND g.final_status = 'pending'
      AND g.human_override_status IS NULL;

    IF v_outcome.status = 'approved' THEN
        PERFORM genome._enqueue_job('embed', p_generated_ad_id, '{}', p_now);
    END IF;
    RETURN v_outcome.status;
END
$$;
COMMENT ON FUNCTION genome._apply_review_decision(uuid, timestamptz) IS
'Internal: act on genome._review_outcome for an ad: queue the next stage''s job while pending, else write the final status and reason to a still-pending ad (never over a human decision) and queue the embed job of an approved ad. Returns the outcome status.';
