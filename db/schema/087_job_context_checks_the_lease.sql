-- genome.job_context takes the worker and checks its lease (functions are re-created after
-- the migrations); the unchecked one-argument version is removed.
DROP FUNCTION IF EXISTS genome.job_context(uuid);
