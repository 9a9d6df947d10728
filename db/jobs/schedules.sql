-- pg_cron schedules (UTC; cron.timezone is GMT), installed from pg_cron's database into
-- the target database named by genome.target_database (set by `genome migrate`, which
-- runs this file in one transaction).
--
-- Jobs run as genome_owner, not as the superuser that schedules them: the jobs need every
-- organization's rows (genome_owner has BYPASSRLS and owns the genome tables) but nothing a
-- superuser could do beyond that, such as creating PL/Python functions.
CREATE TEMPORARY TABLE _genome_jobs ON COMMIT DROP AS
SELECT
    'genome:' || current_setting('genome.target_database') || ':' || job.job_name AS cron_name,
    job.job_name,
    job.schedule
FROM (
    VALUES
    ('genome_collect', '30 6 * * *'),
    ('fatigue_refresh', '0 7 * * *'),
    ('creative_genome_update', '0 7 * * 1'),
    ('experiment_analysis', '0 8 * * *'),
    ('genome_validation', '0 9 * * 1'),
    ('quality_calibration', '0 10 * * 1'),
    ('winner_evolution', '0 11 * * 1'),
    ('reap_jobs', '* * * * *')
) AS job (job_name, schedule);

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
