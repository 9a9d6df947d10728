"""genome.run_job: advisory-locked, logged runs; overlap skips; unknown names refused."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

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
