-- What the Settings page shows: the open alerts at a moment.

CREATE OR REPLACE FUNCTION genome.open_alerts(
    p_organization_id uuid DEFAULT NULL,
    p_now timestamptz DEFAULT now()
)
RETURNS SETOF genome.system_alerts
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
    SELECT a.*
    FROM genome.system_alerts AS a
    WHERE a.status IN ('active', 'acknowledged')
      AND (a.expires_at IS NULL OR a.expires_at > genome._require_now(p_now))
      AND (p_organization_id IS NULL OR a.organization_id = p_organization_id)
    ORDER BY genome._severity_rank(a.severity) DESC, a.updated_at DESC;
$$;
COMMENT ON FUNCTION genome.open_alerts(uuid, timestamptz) IS
'Open alerts (active or acknowledged and not past expires_at) at p_now, of one organization or all, worst first. GN004: bad p_now.';
