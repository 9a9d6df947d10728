-- The one place where health checks write genome.system_alerts (docs/monitoring.md#alerts).

CREATE OR REPLACE FUNCTION genome._severity_rank(p_severity text)
RETURNS integer
LANGUAGE sql
IMMUTABLE
SET search_path = genome, public
AS $$
    SELECT CASE p_severity WHEN 'info' THEN 1 WHEN 'warning' THEN 2 WHEN 'critical' THEN 3 ELSE 0 END;
$$;
COMMENT ON FUNCTION genome._severity_rank(text) IS
'Internal: order of alert severities (info 1 < warning 2 < critical 3; NULL/healthy 0).';

CREATE OR REPLACE FUNCTION genome._sync_alerts(
    p_evaluations genome.alert_evaluation [],
    p_now timestamptz DEFAULT now()
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_expiry interval;
    v_expired integer;
    v_resolved integer;
    v_upserted integer;
BEGIN
    PERFORM genome._require_now(p_now);
    IF EXISTS (
        SELECT 1 FROM unnest(p_evaluations) AS e
        WHERE e.organization_id IS NULL OR e.alert_type IS NULL OR btrim(e.alert_type) = ''
           OR (e.severity IS NOT NULL AND e.severity NOT IN ('info', 'warning', 'critical'))
           OR (e.severity IS NOT NULL AND coalesce(btrim(e.title), '') = '')
    ) THEN
        RAISE EXCEPTION 'alert evaluations need an organization, an alert type, a severity of info/warning/critical (or NULL when healthy) and a title'
            USING ERRCODE = 'GN850';
    END IF;
    v_expiry := genome._setting_interval('alert_expiry_days', 'day');

    -- expires_at is honoured: an alert no check has confirmed since it expired is closed,
    -- so it no longer counts as open and a new one can be raised.
    UPDATE genome.system_alerts AS a
    SET status = 'resolved',
        resolved_at = a.expires_at,
        updated_at = p_now,
        details = a.details || jsonb_build_object('resolution', 'expired')
    WHERE a.status IN ('active', 'acknowledged') AND a.expires_at <= p_now;
    GET DIAGNOSTICS v_expired = ROW_COUNT;

    -- A healthy evaluation auto-resolves the open alert of its (organization, brand, type).
    UPDATE genome.system_alerts AS a
    SET status = 'auto_resolved',
        resolved_at = p_now,
        updated_at = p_now,
        details = a.details || jsonb_build_object(
            'resolution', 'recovered', 'resolved_value', e.metric_value, 'resolved_details', e.details
        )
    FROM unnest(p_evaluations) AS e
    WHERE e.severity IS NULL
      AND a.organization_id = e.organization_id
      AND a.brand_id IS NOT DISTINCT FROM e.brand_id
      AND a.alert_type = e.alert_type
      AND a.status IN ('active', 'acknowledged');
    GET DIAGNOSTICS v_resolved = ROW_COUNT;

    -- One open alert per (organization, brand, type): a repeat refreshes it, a worse
    -- severity escalates it (and re-activates an acknowledged one); severity never drops
    -- while the alert is open, the latest evaluation is kept in details.current_severity.
    INSERT INTO genome.system_alerts AS a (
        organization_id, brand_id, alert_type, severity, title, details, metric_value,
        status, created_at, updated_at, expires_at
    )
    SELECT DISTINCT ON (e.organization_id, e.brand_id, e.alert_type)
        e.organization_id,
        e.brand_id,
        e.alert_type,
        e.severity,
        e.title,
        coalesce(e.details, '{}'::jsonb) || jsonb_build_object(
            'current_severity', e.severity, 'evaluated_at', p_now
        ),
        e.metric_value,
        'active',
        p_now,
        p_now,
        p_now + v_expiry
    FROM unnest(p_evaluations) AS e
    WHERE e.severity IS NOT NULL
    ORDER BY e.organization_id, e.brand_id, e.alert_type, genome._severity_rank(e.severity) DESC
    ON CONFLICT (organization_id, coalesce(brand_id, '00000000-0000-0000-0000-000000000000'::uuid), alert_type)
    WHERE status IN ('active', 'acknowledged')
    DO UPDATE SET
        severity = CASE
            WHEN genome._severity_rank(excluded.severity) > genome._severity_rank(a.severity)
                THEN excluded.severity
            ELSE a.severity
        END,
        status = CASE
            WHEN genome._severity_rank(excluded.severity) > genome._severity_rank(a.severity)
                THEN 'active'
            ELSE a.status
        END,
        acknowledged_by = CASE
            WHEN genome._severity_rank(excluded.severity) > genome._severity_rank(a.severity)
                THEN NULL
            ELSE a.acknowledged_by
        END,
        acknowledged_at = CASE
            WHEN genome._severity_rank(excluded.severity) > genome._severity_rank(a.severity)
                THEN NULL
            ELSE a.acknowledged_at
        END,
        title = CASE
            WHEN genome._severity_rank(excluded.severity) >= genome._severity_rank(a.severity)
                THEN excluded.title
            ELSE a.title
        END,
        details = excluded.details || CASE
            WHEN genome._severity_rank(excluded.severity) > genome._severity_rank(a.severity)
                THEN jsonb_build_object(
                    'escalated_at', p_now, 'escalated_from', a.severity,
                    'previous_acknowledgement', CASE WHEN a.status = 'acknowledged' THEN
                        jsonb_build_object('by', a.acknowledged_by, 'at', a.acknowledged_at) END
                )
            ELSE jsonb_strip_nulls(jsonb_build_object(
                'escalated_at', a.details -> 'escalated_at', 'escalated_from', a.details -> 'escalated_from',
                'previous_acknowledgement', a.details -> 'previous_acknowledgement'
            ))
        END,
        metric_value = excluded.metric_value,
        updated_at = p_now,
        expires_at = excluded.expires_at;
    GET DIAGNOSTICS v_upserted = ROW_COUNT;

    RETURN v_expired + v_resolved + v_upserted;
END
$$;
COMMENT ON FUNCTION genome._sync_alerts(genome.alert_evaluation [], timestamptz) IS
'Internal: the shared alert upsert of every health check. Closes open alerts past expires_at (status resolved, details.resolution expired); auto_resolves the open alert of each healthy evaluation (severity NULL); raises one alert per (organization, brand, type) for each failing evaluation or refreshes the open one (metric, details, expires_at = p_now + alert_expiry_days), escalating its severity (and re-activating it if acknowledged) when the new one is worse. Returns the number of alerts written. GN850: malformed evaluation; GN004: bad p_now.';
