"""Agent processes against one database: four agents on 500 ads, kill -9 mid-job, the
database dropping their connections, and a graceful drain on SIGTERM. The agents run
tests/support/pipeline.py (run_agents with deterministic test-double providers)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.pipeline import AgentProcesses, make_ads, make_product, wait_for

AGENT_MODULE = "tests.support.pipeline"


@pytest.fixture
def agents(db_dsn: str, tmp_path: Path) -> Iterator[AgentProcesses]:
    a = AgentProcesses(AGENT_MODULE, db_dsn, tmp_path)
    try:
        yield a
    finally:
        a.stop_all()


def _value(db: psycopg.Connection, sql: str, *args: object) -> object:
    return db.execute(sql, args).fetchone()[0]


@pytest.mark.slow
def test_four_agents_on_500_ads(db: psycopg.Connection, agents: AgentProcesses) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 500)
    procs = [
        agents.start("--concurrency", "3", "--idle-exit", "3", "--lease", "60") for _ in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    statuses = dict(
        db.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
    )
    # Buckets (prompt_index mod 10): 0 defect, 1 second opinion approves, 2 both borderline,
    # 3 rejected by review, 4-9 approved.
    assert statuses == {"approved": 350, "rejected": 100, "flagged": 50}
    # Each ad reached its final status exactly once.
    changes = db.execute(
        "SELECT generated_ad_id, count(*), bool_and(old_status = 'pending') FROM genome.ad_status_history GROUP BY 1"
    ).fetchall()
    assert len(changes) == 500 and all(n == 1 and from_pending for _, n, from_pending in changes)
    assert _value(db, "SELECT sum(approved_count) FROM ad_runs") == 350
    # Every job ran once, by one agent, and succeeded: no retries, no overlaps.
    jobs = db.execute(
        "SELECT status, attempts, count(*) FROM genome.agent_jobs GROUP BY 1, 2"
    ).fetchall()
    total = 500 * 4 + 100 + 350  # generate, scan, review (400 scanned clean) ... counted below
    assert [(s, a) for s, a, _ in jobs] == [("succeeded", 1)]
    n_jobs = jobs[0][2]
    kinds = dict(db.execute("SELECT kind, count(*) FROM genome.agent_jobs GROUP BY 1").fetchall())
    assert kinds == {
        "generate": 500,
        "defect_scan": 500,
        "review": 450,
        "second_opinion": 100,
        "embed": 350,
    }
    assert n_jobs == sum(kinds.values()) and total > 0
    attempts = db.execute(
        "SELECT count(*), count(DISTINCT agent_job_id), bool_and(outcome = 'succeeded') FROM genome.agent_job_attempts"
    ).fetchone()
    assert attempts == (n_jobs, n_jobs, True)
    # One result row per stage job.
    assert _value(db, "SELECT count(DISTINCT generated_ad_id) FROM genome.ad_defect_scans") == 500
    assert _value(db, "SELECT count(*) FROM genome.ad_defect_scans") == 500
    assert _value(db, "SELECT count(*) FROM genome.ad_reviews") == 550
    assert (
        _value(db, "SELECT count(*) FROM genome.provider_calls") == n_jobs + 350
    )  # embed: 2 calls
    # The logs show each job once, and all four agents did part of the work.
    lines = [x for x in agents.lines() if x["event"] == "job"]
    per_job = Counter(x["id"] for x in lines)
    assert len(per_job) == n_jobs and set(per_job.values()) == {1}
    assert {x["outcome"] for x in lines} == {"succeeded"}
    by_worker = Counter(x["worker"] for x in lines)
    assert len(by_worker) == 4 and min(by_worker.values()) > 50


def test_kill_9_mid_job_lease_expires_and_another_agent_finishes(
    db: psycopg.Connection, agents: AgentProcesses
) -> None:
    p = make_product(db)
    ads = make_ads(db, p["product"], 5)
    ad = ads[4]  # prompt_index 5: approved
    db.execute("DELETE FROM genome.agent_jobs WHERE generated_ad_id <> %s", (ad,))
    stuck = agents.start("--mode", "hang-review", "--lease", "2", "--concurrency", "1")
    wait_for(
        lambda: (
            _value(
                db,
                "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'review' AND status = 'running'",
            )
            == 1
        ),
        60,
        "the first agent to be inside the review call",
    )
    time.sleep(2.5)  # heartbeats keep the lease alive while the call hangs
    assert _value(db, "SELECT leased_until > now() FROM genome.agent_jobs WHERE kind = 'review'")
    stuck.send_signal(signal.SIGKILL)
    stuck.wait(10)
    helper = agents.start("--lease", "2", "--concurrency", "1", "--idle-exit", "2")
    assert helper.wait(timeout=60) == 0
    assert _value(db, "SELECT final_status FROM generated_ads WHERE id = %s", ad) == "approved"
    job = db.execute(
        "SELECT attempts, errors, status FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = 'review'",
        (ad,),
    ).fetchone()
    assert job[0] == 2 and job[2] == "succeeded"
    assert len(job[1]) == 1 and job[1][0]["error"].startswith("lease expired")
    assert _value(db, "SELECT count(*) FROM genome.ad_reviews WHERE generated_ad_id = %s", ad) == 1
    tries = db.execute(
        """
        SELECT a.worker, a.outcome, a.claimed_at, a.ended_at
        FROM genome.agent_job_attempts a JOIN genome.agent_jobs j ON j.id = a.agent_job_id
        WHERE j.kind = 'review' ORDER BY a.id
        """
    ).fetchall()
    assert [t[1] for t in tries] == ["expired", "succeeded"]
    assert tries[0][0] != tries[1][0]
    assert tries[0][3] <= tries[1][2]  # the second agent started after the first one's lease ended


def test_agents_reconnect_after_their_connections_are_dropped(
    db: psycopg.Connection, agents: AgentProcesses
) -> None:
    # Terminating the agents' backends exercises the same reconnect path as a database
    # restart (every connection breaks) without stopping the cluster other sessions share.
    p = make_product(db)
    make_ads(db, p["product"], 3)
    # A long poll interval: work queued later is found through LISTEN/NOTIFY on the
    # re-established listener connection (or the wake-up after its reconnect).
    proc = agents.start("--poll", "120", "--probe", "1", "--concurrency", "2", "--drain", "5")
    wait_for(
        lambda: (
            _value(db, "SELECT count(*) FROM generated_ads WHERE final_status <> 'pending'") == 3
        ),
        60,
        "the first ads",
    )
    others = (
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    for round_ in range(1, 3):
        # The pool replaces a broken connection only when it next hands one out, so the
        # second round first waits for the agent to hold its listener and a pooled
        # connection again; killing fewer would not exercise both reconnect paths.
        wait_for(lambda: _value(db, f"SELECT count(*) {others}") >= 2, 30, "two agent connections")
        killed = _value(db, f"SELECT count(pg_terminate_backend(pid)) {others}")
        assert killed >= 2  # the listener and at least one pooled connection
        wait_for(
            lambda n=round_: sum(x["event"] == "listener_reconnected" for x in agents.lines()) >= n,
            30,
            "the listener to reconnect",
        )
    make_ads(db, p["product"], 4)
    wait_for(
        lambda: (
            _value(db, "SELECT count(*) FROM generated_ads WHERE final_status = 'pending'") == 0
        ),
        60,
        "the ads queued after the reconnect",
    )
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert _value(db, "SELECT count(*) FROM genome.agent_jobs WHERE status <> 'succeeded'") == 0


def test_sigterm_drains_and_releases_a_job_still_running(
    db: psycopg.Connection, agents: AgentProcesses
) -> None:
    p = make_product(db)
    ads = make_ads(db, p["product"], 5)
    ad = ads[4]
    db.execute("DELETE FROM genome.agent_jobs WHERE generated_ad_id <> %s", (ad,))
    proc = agents.start("--mode", "hang-review", "--drain", "1", "--concurrency", "1")
    wait_for(
        lambda: (
            _value(
                db,
                "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'review' AND status = 'running'",
            )
            == 1
        ),
        60,
        "the agent to be inside the review call",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    job = db.execute(
        "SELECT status, attempts, leased_by, errors FROM genome.agent_jobs WHERE kind = 'review'"
    ).fetchone()
    assert job == ("queued", 0, None, [])
    outcome = _value(
        db,
        "SELECT a.outcome FROM genome.agent_job_attempts a JOIN genome.agent_jobs j ON j.id = a.agent_job_id "
        "WHERE j.kind = 'review'",
    )
    assert outcome == "released"
    assert any(x["event"] == "released" and x["released"] for x in agents.lines())
    assert os.path.exists(agents.tmp / "img" / str(p["organization"]) / f"{ad}.png")
