-- pg_cron schedules (UTC; cron.timezone is GMT), installed from pg_cron's database into
-- the target database named by genome.target_database (set by `genome migrate`).
-- cron.schedule_in_database upserts by job name, so re-running changes nothing.
SELECT cron.schedule_in_database(
    'genome:' || current_setting('genome.target_database') || ':' || job.job_name,
    job.schedule,
    format('SELECT genome.run_job(%L)', job.job_name),
    current_setting('genome.target_database')
)
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
