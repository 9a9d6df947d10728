-- Agents and the queue: lease and delay bounds, retried jobs first in claim order
-- (docs/attacks.md#agents-and-the-queue).

INSERT INTO genome.settings (key, value, description) VALUES
('job_max_lease_seconds', '3600',
 'Longest lease claim_jobs and heartbeat_job grant; a longer one is refused (GN421)'),
('job_max_delay_seconds', '604800',
 'Furthest in the future enqueue_job may schedule a job (run_after), in seconds (GN421)');

-- A job that was tried before (reaped after its agent died, or failed and backed off) goes
-- ahead of never-tried ones: its ad has waited longest.
DROP INDEX genome.agent_jobs_claim_order_idx;
CREATE INDEX agent_jobs_claim_order_idx
ON genome.agent_jobs ((attempts > 0) DESC, stage_rank DESC, run_after, created_at, id)
WHERE status = 'queued';
COMMENT ON INDEX genome.agent_jobs_claim_order_idx IS
'Claim order of genome.claim_jobs: retried jobs first, then later pipeline stages, then oldest run_after.';
