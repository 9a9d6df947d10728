"""genome.run_job: advisory-locked, logged runs; overlap skips; unknown names refused."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from croniter import croniter

NOW = dt.datetime(2026, 6, 1, 6, 30, tzinfo=dt.UTC)


def test_run_is_logged(db: psycopg.Connection) -> None:
    out = db.execute("SELECT genome.run_job('genome_collect', %s)", (NOW,)).fetchone()[0]
    assert out["status"] == "succeeded"
    assert "collect_rewards" in out["results"]
    row = db.execute(
        "SELECT job_name, p_now, status, finished_at IS NOT NULL FROM genome.job_runs WHERE id = %s",
        (out["run_id"],),
    ).fetchone()
    assert row == ("genome_collect", NOW, "succeeded", True)


def test_overlapping_run_skips(db: psycopg.Connection, db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as first:
        # The first run's transaction is still open, so it holds the job's lock.
        first.execute("SELECT genome.run_job('creative_genome_update', %s)", (NOW,))
        second = db.execute(
            "SELECT genome.run_job('creative_genome_update', %s)", (NOW,)
        ).fetchone()[0]
        assert second["status"] == "skipped"
        # Another job is not blocked.
        assert (
            db.execute("SELECT genome.run_job('genome_collect', %s)", (NOW,)).fetchone()[0][
                "status"
            ]
            == "succeeded"
        )
        first.commit()
    statuses = [
        r[0]
        for r in db.execute(
            "SELECT status FROM genome.job_runs WHERE job_name = 'creative_genome_update' ORDER BY id"
        )
    ]
    assert sorted(statuses) == ["skipped", "succeeded"]
    # After the first run committed, the next run goes ahead.
    assert (
        db.execute("SELECT genome.run_job('creative_genome_update', %s)", (NOW,)).fetchone()[0][
            "status"
        ]
        == "succeeded"
    )


def test_every_scheduled_job_name_runs(db: psycopg.Connection) -> None:
    for (name,) in db.execute("SELECT job_name FROM genome.job_schedules").fetchall():
        out = db.execute("SELECT genome.run_job(%s, %s)", (name, NOW)).fetchone()[0]
        assert out["status"] in {"succeeded"}, out


def test_every_scheduled_job_invokes_installed_functions(db: psycopg.Connection) -> None:
    rows = db.execute("SELECT job_name, invocations FROM genome.job_schedules").fetchall()
    assert rows
    for name, invocations in rows:
        assert invocations, name
        for fn in invocations:
            assert (
                db.execute(
                    "SELECT to_regprocedure(format('genome.%%I(timestamptz)', %s::text))", (fn,)
                ).fetchone()[0]
                is not None
            ), (name, fn)


def test_run_job_runs_exactly_the_rows_of_job_schedules(db: psycopg.Connection) -> None:
    """run_job has no list of its own: a row makes a name runnable, removing it refuses it."""
    db.execute(
        "INSERT INTO genome.job_schedules (job_name, invocations, description, schedule, day_order) "
        "VALUES ('probe_job', '{reap_jobs}', 'test', '0 0 1 1 *', 99)"
    )
    out = db.execute("SELECT genome.run_job('probe_job', %s)", (NOW,)).fetchone()[0]
    assert out["status"] == "succeeded" and set(out["results"]) == {"reap_jobs"}
    db.execute("DELETE FROM genome.job_schedules WHERE job_name = 'probe_job'")
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.run_job('probe_job', %s)", (NOW,))
    assert err.value.sqlstate == "GN020"


def test_day_order_follows_the_cron_times(db: psycopg.Connection) -> None:
    """On a Monday (every job is due) the jobs' first due times sort as day_order does, and
    the weekly score update comes after the day's experiment analysis, whose causal effects
    it combines."""
    monday = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    rows = db.execute("SELECT job_name, schedule, day_order FROM genome.job_schedules").fetchall()
    first = {
        name: croniter(schedule, monday - dt.timedelta(seconds=1)).get_next(dt.datetime)
        for name, schedule, _ in rows
    }
    assert all(t.date() == monday.date() for t in first.values()), first
    by_order = [name for name, _, _ in sorted(rows, key=lambda r: r[2])]
    by_time = sorted(by_order, key=lambda name: first[name])
    assert by_order == by_time
    assert first["experiment_analysis"] < first["creative_genome_update"]


def test_failure_is_logged_and_rolled_back(db: psycopg.Connection) -> None:
    db.execute(
        "UPDATE genome.settings SET value = '\"NOT_AN_OBJECTIVE\"' WHERE key = 'success_threshold'"
    )
    out = db.execute("SELECT genome.run_job('creative_genome_update', %s)", (NOW,)).fetchone()[0]
    assert out["status"] == "failed"
    assert out["failed_in"] == "update_scores"
    row = db.execute(
        "SELECT status, error FROM genome.job_runs WHERE id = %s", (out["run_id"],)
    ).fetchone()
    assert row[0] == "failed" and "NOT_AN_OBJECTIVE" in row[1]
    assert db.execute("SELECT count(*) FROM genome.genome_state").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("sql", "state"),
    [
        ("SELECT genome.run_job('no_such_job')", "GN020"),
        ("SELECT genome.run_job(NULL)", "GN020"),
        ("SELECT genome.run_job('genome_collect', NULL)", "GN004"),
    ],
)
def test_bad_job_calls(db: psycopg.Connection, sql: str, state: str) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute(sql)
    assert err.value.sqlstate == state
    assert db.execute("SELECT count(*) FROM genome.job_runs").fetchone()[0] == 0
