"""The main job end to end: a short seeded `genome demo` with real agent processes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import psycopg
import pytest

from agents.settings import local_cluster
from sim.demo import FAKE_DATA_FLAG, DemoConfig, _jobs_due, demo_database, main, run_demo
from sim.truth import build_truth, load_dimensions, load_reward_weights
from tests.support import TEST_DB


def _demo(tmp_path: Path, **kw) -> tuple:  # type: ignore[no-untyped-def]
    cfg = DemoConfig(out=tmp_path / "out", quiet=True, dbname=f"{TEST_DB}_demo", **kw)
    os.environ.pop("GENOME_DATABASE_URL", None)
    lines: list[str] = []
    return run_demo(cfg, log=lines.append), lines


def test_demo_runs_the_jobs_of_job_schedules_at_their_cron_times(db: psycopg.Connection) -> None:
    monday, tuesday = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    names = {r[0] for r in db.execute("SELECT job_name FROM genome.job_schedules")}
    due_monday = _jobs_due(db, monday)
    assert {name for name, _ in due_monday} == names
    order = [name for name, _ in due_monday]
    assert order.index("experiment_analysis") < order.index("creative_genome_update")
    times = dict(due_monday)
    assert times["genome_collect"] == dt.datetime(2026, 1, 5, 6, 30, tzinfo=dt.UTC)
    assert [t for _, t in due_monday] == sorted(t for _, t in due_monday)
    due_tuesday = {name for name, _ in _jobs_due(db, tuesday)}
    # Weekly jobs wait for Monday; the daily ones (the learner's update among them,
    # docs/learning.md#joint-learner) run again.
    assert "genome_validation" not in due_tuesday and "genome_collect" in due_tuesday
    assert "creative_genome_update" in due_tuesday


def test_the_demo_stays_in_its_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GENOME_DATABASE_URL does not lead the demo's fake rows into the app's database; a
    server named with --database-url is refused unless the fake-data flag is given too."""
    name = f"{TEST_DB}_sandbox"
    app = "postgresql://app:secret@db.example.invalid/app"
    monkeypatch.setenv("GENOME_DATABASE_URL", app)
    notes: list[str] = []
    dsn = demo_database(True, name, log=notes.append)
    try:
        assert dsn == local_cluster().url(name)
        assert "does not use it" in notes[0] and FAKE_DATA_FLAG in notes[0]
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
    finally:
        with psycopg.connect(local_cluster().url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # refused before any connection (the host does not exist), the password not repeated
    assert main(["--database-url", app, "--days", "1", "--out", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert FAKE_DATA_FLAG in err and "db.example.invalid" in err and "secret" not in err
    assert demo_database(True, name, app, confirmed=True, log=notes.append) == app
    assert "never dropped" in notes[-1]


def test_short_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    result, lines = _demo(tmp_path, days=10, brands=1, ads_per_day=4, seed=3)
    # 40 planned by the loop, plus any child ads that winner evolution planned.
    assert result.planned >= 40
    assert result.finished == result.planned, "every planned ad reached a final status"
    with psycopg.connect(result.dsn) as conn:
        statuses = dict(
            conn.execute(
                "SELECT final_status, count(*) FROM generated_ads WHERE element_tags_source = 'plan' "
                "GROUP BY 1"
            ).fetchall()
        )
        assert statuses.get("approved", 0) > 0
        assert "pending" not in statuses
        assert (
            conn.execute("SELECT count(*) FROM genome.creative_element_rewards").fetchone()[0] > 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM genome.job_runs WHERE job_name = 'creative_genome_update' "
                "AND status = 'succeeded'"
            ).fetchone()[0]
            >= 1
        )
        assert conn.execute("SELECT max(genome_version) FROM genome.genome_state").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM genome.provider_calls").fetchone()[0] >= 40
        # The marketer curated exemplars from its reviews, and reviews after that carried the
        # nearest of them, found through the agent's own describe and embed calls.
        assert conn.execute("SELECT count(*) FROM genome.ad_quality_exemplars").fetchone()[0] >= 1
        # A second opinion and the embed stage reuse that describe and embedding.
        calls = dict(
            conn.execute(
                "SELECT j.kind || ':' || coalesce((SELECT string_agg(c.operation, '+' ORDER BY "
                "c.operation) FROM genome.provider_calls c WHERE c.agent_job_id = j.id), '-'), "
                "count(*) FROM genome.agent_jobs j "
                "JOIN genome.ad_visual_lookups l ON l.generated_ad_id = j.generated_ad_id "
                "WHERE j.kind IN ('review', 'second_opinion', 'embed') GROUP BY 1"
            ).fetchall()
        )
        assert calls.get("review:describe+embed+review", 0) >= 1, calls
        assert set(calls) <= {"review:describe+embed+review", "second_opinion:review", "embed:-"}
        assert (
            conn.execute(
                "SELECT count(*) FROM genome.ad_reviews r WHERE cardinality(r.exemplar_ids) > 0 "
                "AND NOT EXISTS (SELECT 1 FROM genome.ad_visual_lookups l "
                "WHERE l.generated_ad_id = r.generated_ad_id)"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute("SELECT count(*) FROM genome.job_runs WHERE status = 'failed'").fetchone()[
                0
            ]
            == 0
        )
    report = tmp_path / "out" / "report.html"
    assert report.exists() and "data:image/png;base64" in report.read_text()
    assert (tmp_path / "out" / "history.json").exists()
    assert any("report:" in line for line in lines)


@pytest.mark.slow
def test_longer_demo_learns_the_strongest_dimension(tmp_path: Path) -> None:
    result, _ = _demo(tmp_path, days=45, brands=1, ads_per_day=6, seed=11)
    with psycopg.connect(result.dsn) as conn:
        truth = build_truth(11, 1, load_dimensions(conn), load_reward_weights(conn))
        dim = truth.strongest_dimension
        best = truth.best_values(0)[dim]
        rows = conn.execute(
            "SELECT element_tags->>%s FROM generated_ads WHERE element_tags_source = 'plan' "
            "AND created_at >= (SELECT max(created_at) FROM generated_ads) - interval '15 days'",
            (dim,),
        ).fetchall()
    share_v2 = sum(r[0] == best for r in rows) / len(rows)
    share_random = 1 / len(truth.dimensions[dim])
    assert share_v2 > 2 * share_random, (dim, best, share_v2)
