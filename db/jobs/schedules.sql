-- pg_cron schedules (UTC; cron.timezone is GMT), installed from pg_cron's database into
-- the target database named by genome.target_database (set by `genome migrate`, which
-- runs this file in one transaction). The jobs and their cron expressions are the rows of
-- the target's genome.job_schedules, passed in genome.job_schedules as a JSON array of
-- {job_name, schedule}: this file holds no list of its own (docs/operations.md).
--
-- Jobs run as genome_owner, not as the superuser that schedules them: the jobs need every
-- organization's rows (genome_owner has BYPASSRLS and owns the genome tables) but nothing a
-- superuser could do beyond that, such as creating PL/Python functions.
CREATE TEMPORARY TABLE _genome_jobs ON COMMIT DROP AS
SELECT
    'genome:' || current_setting('genome.target_database') || ':' || job.job_name AS cron_name,
    job.job_name,
    job.schedule
FROM jsonb_to_recordset(current_setting('genome.job_schedules')::jsonb) AS job (
    job_name text, schedule text
);

-- pg_cron keys a job by (name, user), so a job scheduled earlier under another user (the
-- superuser, before jobs ran as genome_owner) or no longer in the list would linger beside
-- the new one. Jobs left behind by genome databases that were dropped fail every run.
SELECT cron.unschedule(j.jobid)
FROM cron.job AS j
WHERE
    j.jobname LIKE 'genome:%'
    AND (
        (
            j.database = current_setting('genome.target_database')
            AND NOT EXISTS (
                SELECT 1 FROM _genome_jobs AS g
                WHERE g.cron_name = j.jobname AND j.username = 'genome_owner'
            )
        )
        OR NOT EXISTS (SELECT 1 FROM pg_database AS d WHERE d.datname = j.database)
    );

-- cron.schedule_in_database upserts by (name, user), so re-running changes nothing.
SELECT cron.schedule_in_database(
    g.cron_name,
    g.schedule,
    format('SELECT genome.run_job(%L)', g.job_name),
    current_setting('genome.target_database'),
    'genome_owner'
)
FROM _genome_jobs AS g;
