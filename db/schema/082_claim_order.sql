-- Claims take later pipeline stages first. Ordering by array_position(kinds, kind) could
-- not use an index, so every claim sorted the whole queue; a stored stage rank can.
ALTER TABLE genome.agent_jobs ADD COLUMN stage_rank smallint GENERATED ALWAYS AS (
    CASE kind
        WHEN 'generate' THEN 1
        WHEN 'defect_scan' THEN 2
        WHEN 'review' THEN 3
        WHEN 'second_opinion' THEN 4
        WHEN 'embed' THEN 5
        WHEN 'noop' THEN 6
        ELSE 0
    END
) STORED;
COMMENT ON COLUMN genome.agent_jobs.stage_rank IS
'Pipeline position of the kind (generate 1 ... embed 5, noop 6); claims take the highest first.';
CREATE INDEX agent_jobs_claim_order_idx
ON genome.agent_jobs (stage_rank DESC, run_after, created_at, id)
WHERE status = 'queued';
