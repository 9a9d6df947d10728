-- Per-role limits (docs/security.md#per-role-limits): how long one statement of an app,
-- agent or dashboard session may run, and how large an input one numeric helper accepts.
-- genome._apply_tenancy() applies the timeouts to the roles at every migrate; the helpers
-- check their input sizes through genome._require_helper_size.

INSERT INTO genome.settings (key, value, description) VALUES
('app_statement_timeout_seconds', '30',
 'statement_timeout of genome_app and its login roles (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('agent_statement_timeout_seconds', '30',
 'statement_timeout of genome_agent and its login roles (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('dashboard_statement_timeout_seconds', '30',
 'statement_timeout of the dashboard''s login role genome_dashboard (ALTER ROLE, applied by genome migrate); 0 turns it off'),
('helper_max_rows', '10000',
 'Rows (arms, points, values) one call of a numeric helper accepts at most (GN031 beyond)'),
('helper_max_samples', '10000000',
 'Monte Carlo samples one call of a numeric helper draws at once at most: draws times the arms of its largest group (GN031 beyond)')
ON CONFLICT (key) DO NOTHING;
