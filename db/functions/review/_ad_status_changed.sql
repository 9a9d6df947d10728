CREATE OR REPLACE FUNCTION genome._ad_status_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public, pg_temp
AS $$
BEGIN
    -- Definer: the app's own status updates fire it, whatever role the app writes as (its
    -- service role has no rights in schema genome). It writes only the history of the row
    -- the caller was allowed to update and that row's run (docs/security.md#definer-functions).
    INSERT INTO genome.ad_status_history (generated_ad_id, old_status, new_status, reason, changed_at)
    VALUES (NEW.id, OLD.final_status, NEW.final_status, NEW.decision_reason, coalesce(NEW.decided_at, now()));

    IF (NEW.final_status = 'approved') <> (OLD.final_status = 'approved') THEN
        UPDATE public.ad_runs AS r
        SET approved_count = CASE
            WHEN NEW.final_status = 'approved' THEN r.approved_count + 1
            ELSE greatest(r.approved_count - 1, 0)
        END
        WHERE r.id = NEW.ad_run_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION genome._ad_status_changed() IS
'Internal trigger: on every change of generated_ads.final_status, append to genome.ad_status_history and keep ad_runs.approved_count (a run counts approvals beside attempts) in step: +1 when an ad becomes approved, -1 when it leaves approved (duplicate, diversity, human override). SECURITY DEFINER, so the existing app''s status updates work for any role allowed to update the ad (docs/security.md#definer-functions).';

CREATE OR REPLACE TRIGGER generated_ads_status_changed
AFTER UPDATE OF final_status ON public.generated_ads
FOR EACH ROW
WHEN (old.final_status IS DISTINCT FROM new.final_status)
EXECUTE FUNCTION genome._ad_status_changed();
