-- What pg_cron calls: one advisory-locked, logged run of a named job.

CREATE OR REPLACE FUNCTION genome.run_job(p_name text, p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_job genome.job_schedules;
    v_run_id bigint;
    v_fn text;
    v_out jsonb;
    v_results jsonb := '{}'::jsonb;
    v_rows integer := 0;
    v_missing text[] := '{}';
    v_error text;
BEGIN
    PERFORM genome._require_now(p_now);
    SELECT j.* INTO v_job FROM genome.job_schedules AS j WHERE j.job_name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown job "%"', p_name
            USING ERRCODE = 'GN020', HINT = 'job names are the rows of genome.job_schedules';
    END IF;

    -- Transaction-scoped: released at commit, so an overlapping run sees the lock held.
    IF NOT pg_try_advisory_xact_lock(hashtext('genome.run_job'), hashtext(p_name)) THEN
        INSERT INTO genome.job_runs (job_name, p_now, finished_at, status, rows_affected, result)
        VALUES (p_name, p_now, clock_timestamp(), 'skipped', 0,
                jsonb_build_object('reason', 'another run of this job is in progress'))
        RETURNING id INTO v_run_id;
        RETURN jsonb_build_object('job', p_name, 'status', 'skipped', 'run_id', v_run_id);
    END IF;

    INSERT INTO genome.job_runs (job_name, p_now, status)
    VALUES (p_name, p_now, 'running')
    RETURNING id INTO v_run_id;

    BEGIN
        FOREACH v_fn IN ARRAY v_job.invocations LOOP
            IF to_regprocedure(format('genome.%I(timestamptz)', v_fn)) IS NULL THEN
                v_missing := v_missing || v_fn;
                CONTINUE;
            END IF;
            EXECUTE format('SELECT to_jsonb(genome.%I($1))', v_fn) INTO v_out USING p_now;
            v_results := v_results || jsonb_build_object(v_fn, v_out);
            IF jsonb_typeof(v_out) = 'number' THEN
                v_rows := v_rows + (v_out #>> '{}')::numeric::integer;
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        -- The job's own changes are rolled back (subtransaction); the failure is logged.
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        UPDATE genome.job_runs
        SET finished_at = clock_timestamp(), status = 'failed', error = v_error,
            result = jsonb_build_object('failed_in', v_fn)
        WHERE id = v_run_id;
        RAISE WARNING 'genome job % failed in %: %', p_name, v_fn, v_error;
        RETURN jsonb_build_object('job', p_name, 'status', 'failed', 'run_id', v_run_id,
                                  'error', v_error, 'failed_in', v_fn);
    END;

    UPDATE genome.job_runs
    SET finished_at = clock_timestamp(), status = 'succeeded', rows_affected = v_rows,
        result = v_results || CASE WHEN cardinality(v_missing) > 0
            THEN jsonb_build_object('not_installed', to_jsonb(v_missing)) ELSE '{}'::jsonb END
    WHERE id = v_run_id;
    RETURN jsonb_build_object('job', p_name, 'status', 'succeeded', 'run_id', v_run_id,
                              'rows', v_rows, 'results', v_results,
                              'not_installed', to_jsonb(v_missing));
END
$$;
COMMENT ON FUNCTION genome.run_job(text, timestamptz) IS
'One advisory-locked, logged run (genome.job_runs) of a named job of genome.job_schedules, calling its functions with p_now. An overlapping call returns at once with status skipped; a failing function is rolled back and logged as failed (returned, with a WARNING); functions not installed yet are listed under not_installed. GN020 unknown job, GN004 NULL p_now.';
