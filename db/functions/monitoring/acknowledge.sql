-- A person has seen an alert (docs/monitoring.md#alerts: surfaced in the Settings page).

CREATE OR REPLACE FUNCTION genome.acknowledge(
    p_alert_id uuid,
    p_user text,
    p_now timestamptz DEFAULT now()
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = genome, public
AS $$
DECLARE
    v_alert genome.system_alerts;
BEGIN
    PERFORM genome._check_payload_size(p_user, 'user name');
    PERFORM genome._require_now(p_now);
    PERFORM genome._require_not_null(p_alert_id, 'alert id');
    IF p_user IS NULL OR btrim(p_user) = '' THEN
        RAISE EXCEPTION 'acknowledging user must be named' USING ERRCODE = 'GN802';
    END IF;
    SELECT a.* INTO v_alert FROM genome.system_alerts AS a WHERE a.id = p_alert_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown alert %', p_alert_id USING ERRCODE = 'GN801';
    END IF;
    IF v_alert.status NOT IN ('active', 'acknowledged') OR v_alert.expires_at <= p_now THEN
        RAISE EXCEPTION 'alert % is not open (status %, expires %)',
            p_alert_id, v_alert.status, coalesce(v_alert.expires_at::text, 'never')
            USING ERRCODE = 'GN803';
    END IF;
    -- Acknowledging twice keeps the first acknowledgement.
    UPDATE genome.system_alerts AS a
    SET status = 'acknowledged',
        acknowledged_by = coalesce(a.acknowledged_by, btrim(p_user)),
        acknowledged_at = coalesce(a.acknowledged_at, p_now),
        updated_at = p_now
    WHERE a.id = p_alert_id;
END
$$;
COMMENT ON FUNCTION genome.acknowledge(uuid, text, timestamptz) IS
'Marks an open alert acknowledged by a user (kept open: it still auto-resolves when the metric recovers, and a worse severity re-activates it). GN801 unknown/NULL alert, GN802 no user, GN803 alert not open (resolved, auto_resolved or past expires_at), GN004 bad p_now.';
