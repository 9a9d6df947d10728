"""genome migrate: extensions, run-once migrations, idempotence, failures, existing app."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from agents.migrate import MigrationError, MigrationReport, apply_jobs, migrate, plan, status
from agents.settings import PG_BIN

FIXTURES = Path(__file__).parent / "fixtures"


def _schema_dump(dsn: str) -> str:
    out = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", dsn],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # pg_dump >= 15.14 wraps the dump in \restrict with a random key per run.
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def _copy_project(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "proj"
    shutil.copytree(root / "db", dst / "db")
    return dst


def test_extensions_installed(db: psycopg.Connection) -> None:
    exts = {r[0] for r in db.execute("SELECT extname FROM pg_extension")}
    assert {"vector", "plpython3u"} <= exts


def test_every_migration_recorded_with_checksum(
    db: psycopg.Connection, project_root_path: Path
) -> None:
    rows = db.execute(
        "SELECT filename, checksum FROM genome.schema_migrations ORDER BY version"
    ).fetchall()
    files = sorted(p.name for p in (project_root_path / "db" / "schema").glob("*.sql"))
    assert [r[0] for r in rows] == files
    assert all(len(r[1]) == 64 for r in rows)


def test_second_migrate_changes_nothing(empty_db: str, project_root_path: Path) -> None:
    first = migrate(empty_db, project_root_path, jobs=False)
    assert first.applied, "the first run applies every migration"
    before = _schema_dump(empty_db)
    second = migrate(empty_db, project_root_path, jobs=False)
    assert second.applied == []
    assert _schema_dump(empty_db) == before


def test_failing_migration_leaves_database_as_it_was(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    migrate(empty_db, proj, jobs=False)
    before = _schema_dump(empty_db)
    bad = proj / "db" / "schema" / "900_broken.sql"
    bad.write_text(
        "CREATE TABLE genome.half_done (id int);\n"
        "INSERT INTO genome.half_done VALUES (1);\n"
        "SELECT * FROM genome.no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=r"900_broken\.sql") as err:
        migrate(empty_db, proj, jobs=False)
    assert "no_such_table" in str(err.value)
    assert _schema_dump(empty_db) == before
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('genome.half_done')").fetchone()[0] is None
        assert (
            conn.execute(
                "SELECT count(*) FROM genome.schema_migrations WHERE filename = '900_broken.sql'"
            ).fetchone()[0]
            == 0
        )


def test_failing_function_file_is_named_and_rolled_back(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    migrate(empty_db, proj, jobs=False)
    before = _schema_dump(empty_db)
    (proj / "db" / "functions" / "zz_broken.sql").write_text(
        "CREATE OR REPLACE FUNCTION genome.fine() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
        "CREATE OR REPLACE FUNCTION genome.broken( RETURNS int;\n"
    )
    with pytest.raises(MigrationError, match=r"zz_broken\.sql"):
        migrate(empty_db, proj, jobs=False)
    assert _schema_dump(empty_db) == before


def test_security_step_runs_after_every_function_file(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    # A folder that sorts after security/ is still covered: the step runs by name, not by order.
    proj = _copy_project(project_root_path, tmp_path)
    late = proj / "db" / "functions" / "zzz_sorts_last"
    late.mkdir()
    (late / "late_function.sql").write_text(
        "CREATE OR REPLACE FUNCTION genome.late_function() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
    )
    report = migrate(empty_db, proj, jobs=False)
    assert report.security["tenant_tables"] > 0
    with psycopg.connect(empty_db) as conn:
        public_can_run = conn.execute(
            "SELECT has_function_privilege('public', 'genome.late_function()', 'EXECUTE')"
        ).fetchone()[0]
        app_can_run = conn.execute(
            "SELECT has_function_privilege('genome_app', 'genome.late_function()', 'EXECUTE')"
        ).fetchone()[0]
    assert (public_can_run, app_can_run) == (False, True)


def test_failing_security_step_is_named_and_rolled_back(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    migrate(empty_db, proj, jobs=False)
    before = _schema_dump(empty_db)
    (proj / "db" / "functions" / "security" / "broken_grant.sql").write_text(
        "GRANT SELECT ON genome.no_such_table TO genome_app;\n"
    )
    with pytest.raises(MigrationError, match=r"security/broken_grant\.sql"):
        migrate(empty_db, proj, jobs=False)
    assert _schema_dump(empty_db) == before


def test_changed_applied_migration_is_an_error(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    migrate(empty_db, proj, jobs=False)
    first = sorted((proj / "db" / "schema").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_db, proj, jobs=False)


def test_cli_exits_nonzero_naming_the_file(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    (proj / "db" / "schema" / "950_typo.sql").write_text("CREAT TABLE nope (id int);\n")
    res = subprocess.run(
        [
            str(Path(shutil.which("genome") or project_root_path / ".venv/bin/genome")),
            "migrate",
            "--url",
            empty_db,
            "--no-jobs",
        ],
        capture_output=True,
        text=True,
        env={"GENOME_HOME": str(proj), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 1
    assert "950_typo.sql" in res.stderr
    assert "syntax error" in res.stderr


def test_existing_app_database_gets_only_what_is_missing(
    empty_db: str, project_root_path: Path
) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute((FIXTURES / "existing_app.sql").read_text())
        # As an older version of the app left it: the two-column identity key (size variants
        # collide, so one is gone) and the job-type CHECK without ad_creation_v2.
        conn.execute(
            "DELETE FROM meta_ad_mapping WHERE generated_ad_id = '00000000-0000-0000-0000-000000000107';"
            "DELETE FROM generated_ads WHERE id = '00000000-0000-0000-0000-000000000107';"
            "DROP INDEX generated_ads_identity_key;"
            "ALTER TABLE generated_ads ADD CONSTRAINT generated_ads_ad_run_id_prompt_index_key"
            " UNIQUE (ad_run_id, prompt_index);"
            "ALTER TABLE scheduled_jobs DROP CONSTRAINT valid_job_type, ADD CONSTRAINT"
            " scheduled_jobs_job_type_check CHECK (job_type IN ('ad_creation', 'meta_sync')) NOT VALID"
        )
        app_ads = conn.execute(
            "SELECT id, prompt_index, final_status FROM generated_ads ORDER BY 1"
        ).fetchall()
    migrate(empty_db, project_root_path, jobs=False)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        # App data is untouched.
        assert (
            conn.execute(
                "SELECT id, prompt_index, final_status FROM generated_ads ORDER BY 1"
            ).fetchall()
            == app_ads
        )
        # The app's own column type stays (numeric(5,4)), the missing columns are added.
        typ = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'generated_ads'::regclass AND attname = 'pre_gen_score'"
        ).fetchone()[0]
        assert typ == "numeric(5,4)"
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'generated_ads'::regclass AND attnum > 0"
            )
        }
        assert {"visual_embedding", "genome_version", "bandit_selected", "parent_ad_id"} <= cols
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'brands'::regclass AND attname = 'category'"
            ).fetchone()[0]
            == 1
        )
        # The app's old (ad_run_id, prompt_index) key is replaced by the 3-part identity.
        run_id = conn.execute("SELECT ad_run_id FROM generated_ads LIMIT 1").fetchone()[0]
        conn.execute(
            "INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size) VALUES (%s, 1, '1080x1920px')",
            (run_id,),
        )
        # An upsert on the old key has no key to name any more.
        with pytest.raises(psycopg.errors.InvalidColumnReference):
            conn.execute(
                "INSERT INTO generated_ads (ad_run_id, prompt_index) VALUES (%s, 1)"
                " ON CONFLICT (ad_run_id, prompt_index) DO NOTHING",
                (run_id,),
            )
        # The old job-type CHECK is gone and the new one admits ad_creation_v2.
        names = {
            r[0]
            for r in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'scheduled_jobs'::regclass AND contype = 'c'"
            )
        }
        assert "scheduled_jobs_job_type_check" not in names and "valid_job_type" in names
        conn.execute("INSERT INTO scheduled_jobs (name, job_type) VALUES ('v2', 'ad_creation_v2')")
        # Existing organizations receive their default quality config.
        assert (
            conn.execute(
                "SELECT count(*) FROM genome.quality_scoring_config WHERE is_active"
            ).fetchone()[0]
            == conn.execute("SELECT count(*) FROM organizations").fetchone()[0]
        )
    # And a second run changes nothing.
    before = _schema_dump(empty_db)
    assert migrate(empty_db, project_root_path, jobs=False).applied == []
    assert _schema_dump(empty_db) == before


@pytest.mark.slow
def test_pg_cron_schedules_into_the_target_database(db_dsn: str, project_root_path: Path) -> None:
    with psycopg.connect(db_dsn) as conn:
        dbname = conn.info.dbname
        expected = {r[0] for r in conn.execute("SELECT job_name FROM genome.job_schedules")}
        # A job changed or added in the table is scheduled as the table says (schedules.sql
        # has no list of its own).
        conn.execute(
            "UPDATE genome.job_schedules SET schedule = '15 5 * * 2' "
            "WHERE job_name = 'winner_evolution'"
        )
        conn.execute(
            "INSERT INTO genome.job_schedules "
            "(job_name, invocations, description, schedule, day_order) "
            "VALUES ('probe_job', '{reap_jobs}', 'test', '0 0 1 1 *', 99)"
        )
        schedules = dict(conn.execute("SELECT job_name, schedule FROM genome.job_schedules"))
        expected.add("probe_job")
    admin = db_dsn.replace(f"dbname={dbname}", "dbname=postgres")
    gone = f"{dbname}_gone"
    with psycopg.connect(admin, autocommit=True) as cron:
        try:
            cron.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
            # Left by earlier set-ups: a job under the superuser (before jobs ran as
            # genome_owner), a job no longer in the list, and one of a dropped database.
            cron.execute(f'CREATE DATABASE "{gone}"')
            for name, database in [
                (f"genome:{dbname}:reap_jobs", dbname),
                (f"genome:{dbname}:retired_job", dbname),
                (f"genome:{gone}:reap_jobs", gone),
            ]:
                cron.execute(
                    "SELECT cron.schedule_in_database(%s, '0 0 1 1 *', 'SELECT 1', %s)",
                    (name, database),
                )
            cron.execute(f'DROP DATABASE "{gone}"')

            apply_jobs(db_dsn, project_root_path, MigrationReport())
            rows = cron.execute(
                "SELECT jobname, database, command, username FROM cron.job "
                "WHERE jobname LIKE 'genome:%%' AND database IN (%s, %s)",
                (dbname, gone),
            ).fetchall()
            assert {r[0] for r in rows} == {f"genome:{dbname}:{n}" for n in expected}
            assert all(r[1] == dbname and "genome.run_job" in r[2] for r in rows)
            assert {r[3] for r in rows} == {"genome_owner"}
            scheduled = dict(
                cron.execute(
                    "SELECT jobname, schedule FROM cron.job WHERE database = %s", (dbname,)
                ).fetchall()
            )
            assert scheduled == {f"genome:{dbname}:{n}": s for n, s in schedules.items()}
            # Idempotent by job name: applying again adds nothing.
            apply_jobs(db_dsn, project_root_path, MigrationReport())
            again = cron.execute(
                "SELECT count(*) FROM cron.job WHERE database = %s", (dbname,)
            ).fetchone()[0]
            assert again == len(rows)

            # pg_cron really runs a job as genome_owner (it refuses roles without LOGIN)
            # and the job succeeds with that role's rights. reap_jobs runs every minute.
            reap = cron.execute(
                "SELECT jobid FROM cron.job WHERE jobname = %s", (f"genome:{dbname}:reap_jobs",)
            ).fetchone()[0]
            deadline = time.monotonic() + 75
            run = None
            while run is None and time.monotonic() < deadline:
                run = cron.execute(
                    "SELECT status, username, return_message FROM cron.job_run_details "
                    "WHERE jobid = %s AND status IN ('succeeded', 'failed')",
                    (reap,),
                ).fetchone()
                time.sleep(0.5)
            assert run is not None, "pg_cron did not run reap_jobs within 75 s"
            assert run[:2] == ("succeeded", "genome_owner"), run
        finally:
            cron.execute(
                "SELECT cron.unschedule(jobid) FROM cron.job WHERE database IN (%s, %s)",
                (dbname, gone),
            )
            cron.execute(f'DROP DATABASE IF EXISTS "{gone}"')
        assert (
            cron.execute("SELECT count(*) FROM cron.job WHERE database = %s", (dbname,)).fetchone()[
                0
            ]
            == 0
        )
    with psycopg.connect(db_dsn) as conn:
        logged = conn.execute(
            "SELECT status FROM genome.job_runs WHERE job_name = 'reap_jobs'"
        ).fetchall()
    assert ("succeeded",) in logged


def test_status_and_dry_run_read_only_and_name_each_file(
    empty_db: str, project_root_path: Path, tmp_path: Path
) -> None:
    proj = _copy_project(project_root_path, tmp_path)
    names = sorted(p.name for p in (proj / "db" / "schema").glob("*.sql"))
    fresh = status(empty_db, proj)
    assert (fresh.pending, fresh.applied, fresh.changed) == (names, [], [])
    assert any(step == f"would apply {names[0]}" for step in plan(empty_db, proj))
    with psycopg.connect(empty_db) as conn:  # neither created anything
        assert conn.execute("SELECT to_regnamespace('genome')").fetchone()[0] is None

    migrate(empty_db, proj, jobs=False)
    # one applied file edited, one new file, one applied file gone
    first, *_, last = sorted((proj / "db" / "schema").glob("*.sql"))
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    (proj / "db" / "schema" / "900_next.sql").write_text("CREATE TABLE genome.next_one (id int);\n")
    last.rename(proj / "db" / "schema" / "gone.sql.bak")
    now = status(empty_db, proj)
    assert now.changed == [first.name] and now.pending == ["900_next.sql"]
    assert now.missing == [last.name] and now.applied == names[1:-1]
    assert len(now.functions) == len(list((proj / "db" / "functions").rglob("*.sql"))) - len(
        now.security
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        plan(empty_db, proj)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        genome = shutil.which("genome") or str(project_root_path / ".venv/bin/genome")
        return subprocess.run(
            [genome, "migrate", "--url", empty_db, *args],
            capture_output=True,
            text=True,
            env={"GENOME_HOME": str(proj), "PATH": "/usr/bin:/bin"},
        )

    res = cli("--status")
    assert res.returncode == 1  # a changed file: what migrate would refuse
    assert f"changed  {first.name}" in res.stdout and "pending  900_next.sql" in res.stdout
    first.write_text(first.read_text().replace("\n-- edited after the fact\n", ""))
    res = cli("--dry-run", "--no-jobs")
    assert res.returncode == 0 and "would apply 900_next.sql" in res.stdout
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('genome.next_one')").fetchone()[0] is None


def test_no_migration_files_is_an_error(empty_db: str, tmp_path: Path) -> None:
    for call in (migrate, status, plan):
        with pytest.raises(MigrationError, match="no migration files"):
            call(empty_db, tmp_path)
    genome = shutil.which("genome") or str(Path(__file__).parents[1] / ".venv/bin/genome")
    res = subprocess.run(
        [genome, "migrate", "--url", empty_db],
        capture_output=True,
        text=True,
        env={"GENOME_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 1 and "no migration files" in res.stderr, res.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regnamespace('genome')").fetchone()[0] is None
