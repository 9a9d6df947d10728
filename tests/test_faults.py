"""Faults, bounded and on loopback only: kill -9 of agents at random points over more than
200 jobs, PostgreSQL stopped and restarted under four agents (a throwaway cluster, never the
shared one), a fault-injecting provider, concurrent run_job of every scheduled job, and
concurrent plan_ads against a run's attempts cap. The agents run as genome_agent."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agents.jobqueue import RECONNECT_TIMEOUT_S
from agents.migrate import migrate
from agents.settings import project_root
from sim import factories as f
from tests.support.faults import ThrowawayCluster, fault_providers, insert_ads
from tests.support.pipeline import AgentProcesses, wait_for
from tests.support.security import (
    DAY0,
    build_two_orgs,
    role_dsn,
    run_agents_until_idle,
    table_checksums,
)

AGENT_MODULE = "tests.support.faults"
ROOT = project_root()


def _agent_procs(dsn: str, tmp: Path) -> AgentProcesses:
    """Agent subprocesses with the fault-injecting providers, as genome_agent."""
    return AgentProcesses(AGENT_MODULE, role_dsn(dsn, "genome_agent"), tmp)


@pytest.fixture
def procs(db_dsn: str, tmp_path: Path) -> Iterator[AgentProcesses]:
    a = _agent_procs(db_dsn, tmp_path)
    try:
        yield a
    finally:
        a.stop_all()


def _settings(conn: psycopg.Connection, **values: float) -> None:
    for key, value in values.items():
        conn.execute(
            "INSERT INTO genome.settings (key, value, description) VALUES (%s, to_jsonb(%s), 'test') "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _bucket_tags(n: int) -> list[dict[str, str]]:
    hooks = ["curiosity_gap", "social_proof", "urgency", "question", "bold_claim"]
    return [
        {"hook_type": hooks[i % 5], "color_mode": "brand", "persona_id": str(i % 10)}
        for i in range(1, n + 1)
    ]


def _assert_exactly_once(db: psycopg.Connection, n_ads: int) -> None:
    """Every job ended once (succeeded, one succeeded attempt), every ad decided once, no
    duplicate result rows."""
    jobs = dict(db.execute("SELECT status, count(*) FROM genome.agent_jobs GROUP BY 1").fetchall())
    assert set(jobs) == {"succeeded"}, jobs
    assert (
        db.execute(
            "SELECT count(*) FROM genome.agent_jobs AS j WHERE (SELECT count(*) FROM "
            "genome.agent_job_attempts AS a WHERE a.agent_job_id = j.id AND a.outcome = 'succeeded') <> 1"
        ).fetchone()[0]
        == 0
    )
    statuses = dict(
        db.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
    )
    # Buckets (persona_id = prompt_index mod 10): 0 defect, 1 second opinion approves,
    # 2 flagged, 3 rejected by review, 4-9 approved.
    per = n_ads // 10
    assert statuses == {"approved": 7 * per, "rejected": 2 * per, "flagged": per}, statuses
    history = db.execute(
        "SELECT count(*), count(DISTINCT generated_ad_id) FROM genome.ad_status_history"
    ).fetchone()
    assert history == (n_ads, n_ads)
    for table, key in [
        ("genome.ad_defect_scans", "generated_ad_id"),
        ("genome.ad_reviews", "agent_job_id"),
    ]:
        dupes = db.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY 1 HAVING count(*) > 1) AS d"
        ).fetchone()[0]
        assert dupes == 0, table
    assert db.execute("SELECT count(*) FROM genome.ad_defect_scans").fetchone()[0] == n_ads
    assert (
        db.execute(
            "SELECT count(*) FROM generated_ads WHERE final_status = 'approved' "
            "AND visual_embedding IS NULL"
        ).fetchone()[0]
        == 0
    )
    # Provider calls are recorded for the succeeded attempt of each job only.
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT j.kind, count(c.id) AS n FROM genome.agent_jobs AS j "
            "LEFT JOIN genome.provider_calls AS c ON c.agent_job_id = j.id GROUP BY j.id, j.kind) AS x "
            "WHERE x.n <> CASE x.kind WHEN 'embed' THEN 2 ELSE 1 END"
        ).fetchone()[0]
        == 0
    )


def test_kill_9_at_random_points(db: psycopg.Connection, procs: AgentProcesses) -> None:
    _settings(db, job_max_attempts=20, job_backoff_base_seconds=0.05)
    p = f.product(db, f.brand(db))
    n_ads = 70
    insert_ads(db, p, _bucket_tags(n_ads))
    rng = random.Random(10)
    for _ in range(3):
        procs.start("--lease", "2", "--concurrency", "2")
    kills = 0
    deadline = time.monotonic() + 180
    while kills < 10 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.4, 1.2))
        # Kill an agent in the middle of a job: wait (a while) until one holds a lease, since
        # on a loaded machine agents take seconds to start and a kill before would test nothing.
        victims: list = []
        wait_until = time.monotonic() + 15
        while not victims and time.monotonic() < wait_until:
            busy = {
                int(w.split(":")[1])
                for (w,) in db.execute(
                    "SELECT leased_by FROM genome.agent_jobs WHERE status = 'running'"
                ).fetchall()
            }
            victims = [p for p in procs.alive() if p.pid in busy]
            if not victims:
                time.sleep(0.05)
        victims = victims or procs.alive()
        if victims:
            rng.choice(victims).kill()
            kills += 1
        procs.start("--lease", "2", "--concurrency", "2")
    assert kills == 10
    for _ in range(2):
        procs.start("--lease", "2", "--concurrency", "2", "--idle-exit", "4")

    def settled() -> bool:
        return (
            db.execute(
                "SELECT count(*) FROM genome.agent_jobs WHERE status <> 'succeeded'"
            ).fetchone()[0]
            == 0
            and db.execute(
                "SELECT count(*) FROM generated_ads WHERE final_status = 'pending'"
            ).fetchone()[0]
            == 0
        )

    wait_for(settled, 120, "every job to end")
    total = db.execute("SELECT count(*) FROM genome.agent_jobs").fetchone()[0]
    assert total >= 200
    _assert_exactly_once(db, n_ads)
    # The kills landed mid-job: some leases expired and were reaped, then retried.
    assert (
        db.execute(
            "SELECT count(*) FROM genome.agent_job_attempts WHERE outcome = 'expired'"
        ).fetchone()[0]
        >= 1
    )


def test_postgres_restart_under_four_agents(tmp_path: Path) -> None:
    cluster = ThrowawayCluster()
    started: list[subprocess.Popen[bytes]] = []
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE faults")
        dsn = cluster.dsn("faults")
        migrate(dsn, ROOT, jobs=False)
        n_ads = 60
        with psycopg.connect(dsn, autocommit=True) as conn:
            _settings(conn, job_max_attempts=20, job_backoff_base_seconds=0.05)
            p = f.product(conn, f.brand(conn))
            insert_ads(conn, p, _bucket_tags(n_ads))
        agents = _agent_procs(dsn, tmp_path)
        started = agents.procs
        for _ in range(4):
            agents.start("--lease", "3", "--concurrency", "2", "--idle-exit", "5")
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM genome.agent_jobs WHERE status = 'succeeded'"
                    ).fetchone()[0]
                    >= 20
                ),
                60,
                "agents to get going",
            )
            # Agents are briefly idle between a completion and their next claim: wait for
            # an instant with leases held so the crash lands mid-job.
            wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM genome.agent_jobs WHERE status = 'running'"
                    ).fetchone()[0]
                    >= 1
                ),
                30,
                "a job to be running",
            )
        cluster.stop("immediate")
        # While the server is down one agent dies with its leases: only reap_jobs frees them.
        agents.procs[0].kill()
        time.sleep(3)
        cluster.start()
        for proc in agents.procs[1:]:
            assert proc.wait(timeout=150) == 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            _assert_exactly_once(conn, n_ads)
            assert (
                conn.execute(
                    "SELECT count(*) FROM genome.agent_job_attempts WHERE outcome = 'expired'"
                ).fetchone()[0]
                >= 1
            )
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        cluster.destroy()


# Longer than the pool's give-up time, and long enough that reconnect delays doubling
# without a cap (1, 2, 4, ... 32 s) would overshoot the database's return by far.
OUTAGE_S = 40.0
RESUME_S = 10.0


def _migrate_faults_db(cluster: ThrowawayCluster) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE faults")
    migrate(cluster.dsn("faults"), ROOT, jobs=False)


def _noop_succeeds_within(dsn: str, seconds: float, what: str) -> None:
    """Queue a no-op job and wait for an agent to complete it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        job = conn.execute("SELECT genome.enqueue_job('noop', NULL)").fetchone()[0]
        status = "SELECT status FROM genome.agent_jobs WHERE id = %s"
        wait_for(lambda: conn.execute(status, (job,)).fetchone()[0] == "succeeded", seconds, what)


@pytest.mark.slow
def test_agent_resumes_within_10_s_after_a_long_outage(tmp_path: Path) -> None:
    assert OUTAGE_S > 4 * RECONNECT_TIMEOUT_S
    cluster = ThrowawayCluster()
    dsn = cluster.dsn("faults")
    agents = _agent_procs(dsn, tmp_path)
    try:
        _migrate_faults_db(cluster)
        agent = agents.start("--lease", "3", "--concurrency", "2")
        _noop_succeeds_within(dsn, 30, "the agent to run a job before the outage")
        cluster.stop("immediate")
        time.sleep(OUTAGE_S)
        cluster.start()
        _noop_succeeds_within(dsn, RESUME_S, "the agent to run a job after the outage")
        assert agent.poll() is None
        assert any(x["event"] == "db_unavailable" for x in agents.lines())
    finally:
        agents.stop_all()
        cluster.destroy()


def test_agent_started_before_the_database_waits_for_it(tmp_path: Path) -> None:
    cluster = ThrowawayCluster()
    dsn = cluster.dsn("faults")
    agents = _agent_procs(dsn, tmp_path)
    try:
        _migrate_faults_db(cluster)
        cluster.stop()
        # The lease comes from genome.settings, as with `genome agents run`.
        agent = agents.start("--lease-from-settings", "--concurrency", "1")
        time.sleep(5)
        assert agent.poll() is None, agents.logs[0].read_text()[-2000:]
        cluster.start()
        _noop_succeeds_within(dsn, RESUME_S, "the waiting agent to run a job")
        assert any(x["event"] == "db_unavailable" for x in agents.lines())
    finally:
        agents.stop_all()
        cluster.destroy()


def test_provider_faults_retry_then_dead_letter(
    db: psycopg.Connection, db_dsn: str, tmp_path: Path
) -> None:
    _settings(db, job_max_attempts=3, job_backoff_base_seconds=0.02)
    p = f.product(db, f.brand(db))
    faults = {
        "ok": ("approved", None, None),
        "storm_429": ("approved", None, None),
        "always_429": ("generation_failed", "generate", "429 Too Many Requests"),
        "http_500": ("generation_failed", "generate", "500 Internal Server Error"),
        "timeout": ("review_failed", "review", "timed out"),
        "malformed_json": ("review_failed", "review", "review:"),
        "empty_output": ("review_failed", "defect_scan", "empty output"),
        "non_utf8": ("review_failed", "defect_scan", "not valid UTF-8"),
        "truncated_image": ("generation_failed", "generate", "not a valid PNG"),
    }
    names = list(faults)
    ads = insert_ads(
        db, p, [{"hook_type": "urgency", "persona_id": "5", "fault": n} for n in names]
    )
    run_agents_until_idle(db_dsn, tmp_path / "img", providers=fault_providers(), timeout=120)
    for ad, name in zip(ads, names, strict=True):
        status, kind, error = faults[name]
        assert (
            db.execute("SELECT final_status FROM generated_ads WHERE id = %s", (ad,)).fetchone()[0]
            == status
        ), name
        if kind is None:
            continue
        job = db.execute(
            "SELECT status, attempts, max_attempts, last_error, jsonb_array_length(errors) "
            "FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = %s",
            (ad, kind),
        ).fetchone()
        assert job[0] == "dead" and job[1] == job[2] == 3 and job[4] == 3, (name, job)
        assert error in job[3], (name, job[3])
        # Never a pass: a failed stage wrote no result.
        table = {
            "generate": None,
            "defect_scan": "genome.ad_defect_scans",
            "review": "genome.ad_reviews",
        }[kind]
        if table:
            assert (
                db.execute(
                    f"SELECT count(*) FROM {table} WHERE generated_ad_id = %s", (ad,)
                ).fetchone()[0]
                == 0
            ), name
    storm = db.execute(
        "SELECT attempts, jsonb_array_length(errors) FROM genome.agent_jobs "
        "WHERE generated_ad_id = %s AND kind = 'generate'",
        (ads[names.index("storm_429")],),
    ).fetchone()
    assert storm == (3, 2)


def test_concurrent_run_job_one_runs_one_skips(
    db: psycopg.Connection, db_dsn: str, tmp_path: Path
) -> None:
    build_two_orgs(db, db_dsn, tmp_path / "img")
    now = f.at(DAY0 + dt.timedelta(days=27), 13)
    jobs = [
        r[0] for r in db.execute("SELECT job_name FROM genome.job_schedules ORDER BY 1").fetchall()
    ]
    assert len(jobs) >= 7
    for name in jobs:
        with psycopg.connect(db_dsn) as first, psycopg.connect(db_dsn, autocommit=True) as second:
            out1 = first.execute("SELECT genome.run_job(%s, %s)", (name, now)).fetchone()[0]
            inside = {k: v for k, v in table_checksums(first).items() if k != "genome.job_runs"}
            out2 = second.execute("SELECT genome.run_job(%s, %s)", (name, now)).fetchone()[0]
            first.commit()
        assert out1["status"] == "succeeded", (name, out1)
        assert out2["status"] == "skipped", (name, out2)
        after = {k: v for k, v in table_checksums(db).items() if k != "genome.job_runs"}
        # The skipped run changed nothing: the state is exactly the one run's.
        assert after == inside, name
        runs = dict(
            db.execute(
                "SELECT status, count(*) FROM genome.job_runs WHERE job_name = %s AND p_now = %s GROUP BY 1",
                (name, now),
            ).fetchall()
        )
        assert runs == {"succeeded": 1, "skipped": 1}, (name, runs)


def test_concurrent_plan_ads_respects_the_cap(db: psycopg.Connection, db_dsn: str) -> None:
    p = f.product(db, f.brand(db))
    run = f.ad_run(db, p, max_attempts=23)
    planned: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            barrier.wait()
            for _ in range(4):
                try:
                    n = len(
                        conn.execute(
                            "SELECT * FROM genome.plan_ads(%s, 2, %s)", (run, f.at(DAY0))
                        ).fetchall()
                    )
                    with lock:
                        planned.append(n)
                except psycopg.Error as exc:
                    with lock:
                        refused.append(exc.sqlstate or "")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(planned) == 22  # 11 calls of 2 fit under 23; the 12th would make 24
    assert len(refused) == 32 - 11 and set(refused) == {"GN012"}
    row = db.execute(
        "SELECT attempts_count, (SELECT count(*) FROM generated_ads WHERE ad_run_id = %s), "
        "(SELECT count(*) FROM genome.agent_jobs j JOIN generated_ads g ON g.id = j.generated_ad_id "
        "WHERE g.ad_run_id = %s) FROM ad_runs WHERE id = %s",
        (run, run, run),
    ).fetchone()
    assert row == (22, 22, 22)
