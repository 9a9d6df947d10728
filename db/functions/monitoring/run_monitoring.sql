-- Monitoring and alerting (docs/monitoring.md): every health metric per brand into system_alerts.

CREATE OR REPLACE FUNCTION genome.monitoring_metrics(p_now timestamptz DEFAULT now())
RETURNS TABLE (
    organization_id uuid,
    brand_id uuid,
    metric text,
    metric_value double precision,
    severity text,
    title text,
    details jsonb
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT * FROM genome._metric_brand_rates(genome._require_now(p_now))
    UNION ALL
    SELECT * FROM genome._metric_prediction_accuracy(p_now)
    UNION ALL
    SELECT * FROM genome._metric_data_freshness(p_now);
$$;
COMMENT ON FUNCTION genome.monitoring_metrics(timestamptz) IS
'The health metrics at p_now (docs/monitoring.md#health-metrics), one row per brand and evaluable metric (approval_rate, prediction_accuracy, generation_success_rate, data_freshness, winner_rate) with its value, the severity it breaches (warning / critical, NULL when healthy), a title and the details; thresholds from genome.alert_thresholds. A metric without enough data for a brand has no row. GN004 bad p_now, GN090 bad settings.';

CREATE OR REPLACE FUNCTION genome.run_monitoring(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_written integer;
BEGIN
    PERFORM genome._require_now(p_now);
    SELECT genome._sync_alerts(
        array_agg(ROW(
            m.organization_id, m.brand_id, m.metric, m.severity, m.title, m.metric_value, m.details
        )::genome.alert_evaluation),
        p_now
    )
    INTO v_written
    FROM genome.monitoring_metrics(p_now) AS m;
    RETURN v_written;
END
$$;
COMMENT ON FUNCTION genome.run_monitoring(timestamptz) IS
'Weekly (job genome_validation): evaluates genome.monitoring_metrics(p_now) and syncs genome.system_alerts through genome._sync_alerts: a breached metric raises (or refreshes / escalates) the one open alert of its (organization, brand, type), a healthy one auto_resolves it, a metric without enough data leaves it alone (it lapses at expires_at). Returns the number of alerts written. GN004 bad p_now, GN090 bad settings.';
