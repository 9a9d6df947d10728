CREATE OR REPLACE FUNCTION genome._apply_dead_letters(p_job_ids uuid [], p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_failed integer;
BEGIN
    -- A dead generate job leaves no image; a dead scan or review leaves no decision. The ad
    -- ends failed, never approved and never neutral.
    UPDATE public.generated_ads AS g
    SET final_status = CASE j.kind WHEN 'generate' THEN 'generation_failed' ELSE 'review_failed' END,
        decision_reason = format(
            '%s job dead-lettered after %s attempt(s): %s', j.kind, j.attempts, left(j.last_error, 500)
        ),
        decided_at = p_now
    FROM genome.agent_jobs AS j
    WHERE j.id = ANY (p_job_ids)
      AND j.status = 'dead'
      AND j.kind IN ('generate', 'defect_scan', 'review', 'second_opinion')
      AND g.id = j.generated_ad_id
      AND g.final_status = 'pending';
    GET DIAGNOSTICS v_failed = ROW_COUNT;

    -- A dead embed job leaves the review decision as it is and says so on the ad.
    UPDATE public.generated_ads AS g
    SET decision_reason = concat_ws(
        '; ', g.decision_reason,
        format(
            'embedding dead-lettered after %s attempt(s), duplicate and diversity checks not run',
            j.attempts
        )
    )
    FROM genome.agent_jobs AS j
    WHERE j.id = ANY (p_job_ids)
      AND j.status = 'dead'
      AND j.kind = 'embed'
      AND g.id = j.generated_ad_id;
    RETURN v_failed;
END
$$;
COMMENT ON FUNCTION genome._apply_dead_letters(uuid [], timestamptz) IS
'Internal: consequences of dead jobs for their ads. A dead generate job makes a pending ad generation_failed; a dead defect_scan, review or second_opinion job makes it review_failed; a dead embed job keeps the decision and appends a note to decision_reason. Returns the number of ads failed.';
