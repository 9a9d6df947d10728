"""The agent runtime in-process: the whole pipeline with test-double providers, dead
letters from an always-failing provider, and the one-line job logs."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

from agents.jobqueue import JobQueue
from agents.runtime import run_agents
from tests.support.pipeline import double_providers, make_ads, make_product


def _statuses(db: psycopg.Connection) -> dict[str, int]:
    return dict(
        db.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
    )


def _run(
    db_dsn: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object
) -> None:
    monkeypatch.setenv("GENOME_STORAGE_DIR", str(tmp_path))
    done = threading.Event()
    stop = threading.Event()

    def target() -> None:
        try:
            run_agents(
                db_dsn,
                None,
                3,
                "offline",
                stop=stop,
                idle_exit=1.0,
                providers=double_providers(mode),
                lease_seconds=30,
                poll_interval=0.2,
                probe_interval=1.0,
                **kw,  # type: ignore[arg-type]
            )
        finally:
            done.set()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    finished = done.wait(90)
    stop.set()
    t.join(10)
    assert finished, "agents did not finish within 90 s"


def test_pipeline_runs_every_stage_and_decides(
    db: psycopg.Connection,
    db_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = make_product(db)
    ads = make_ads(db, p["product"], 40)
    caplog.set_level(logging.INFO, logger="genome.agents")
    _run(db_dsn, "ok", tmp_path, monkeypatch)
    rows = db.execute(
        "SELECT g.id, g.final_status, g.storage_path, g.visual_embedding IS NOT NULL FROM generated_ads g"
    ).fetchall()
    # Buckets (prompt_index mod 10): 0 defect, 1 borderline then approved, 2 both borderline,
    # 3 rejected by the review, 4-9 approved.
    assert _statuses(db) == {"approved": 28, "rejected": 8, "flagged": 4}
    # Each image is stored under its key <organization>/<ad>.png in the store (the storage
    # root), and storage_path holds its file URI.
    org = p["organization"]
    assert all(
        r[2] == (tmp_path / str(org) / f"{r[0]}.png").resolve().as_uri()
        and (tmp_path / str(org) / f"{r[0]}.png").is_file()
        for r in rows
    )
    # Embeddings exactly for the approved ads.
    assert all(r[3] == (r[1] == "approved") for r in rows)
    # Every decision matches what SQL recomputes from the stored results.
    for ad, status, *_ in rows:
        assert db.execute("SELECT genome.decide_review(%s)", (ad,)).fetchone()[0] == status
    jobs = db.execute("SELECT status, count(*) FROM genome.agent_jobs GROUP BY 1").fetchall()
    assert dict(jobs).keys() == {"succeeded"}
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "genome.agents"]
    job_lines = [x for x in lines if x["event"] == "job"]
    total_jobs = db.execute("SELECT count(*) FROM genome.agent_jobs").fetchone()[0]
    assert len(job_lines) == total_jobs
    assert all({"kind", "id", "attempt", "ms", "outcome"} <= x.keys() for x in job_lines)
    assert {x["outcome"] for x in job_lines} == {"succeeded"}
    assert len(ads) == 40
    assert db.execute("SELECT sum(approved_count) FROM ad_runs").fetchone()[0] == 28
    second = db.execute("SELECT count(*) FROM genome.agent_jobs WHERE kind = 'second_opinion'")
    assert second.fetchone()[0] == 8


@pytest.mark.parametrize(
    ("mode", "kind", "final"),
    [
        ("fail-generate", "generate", "generation_failed"),
        ("fail-review", "review", "review_failed"),
    ],
)
def test_always_failing_provider_dead_letters(
    db: psycopg.Connection,
    db_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    kind: str,
    final: str,
) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 6)
    db.execute("UPDATE genome.settings SET value = '0.05' WHERE key = 'job_backoff_base_seconds'")
    _run(db_dsn, mode, tmp_path, monkeypatch)
    statuses = _statuses(db)
    assert "approved" not in statuses
    # Bucket-0 ads are rejected by the defect scan before any review.
    assert set(statuses) <= {final, "rejected"} and statuses.get(final, 0) >= 1
    dead = db.execute(
        "SELECT attempts, max_attempts, errors FROM genome.agent_jobs WHERE kind = %s AND status = 'dead'",
        (kind,),
    ).fetchall()
    assert len(dead) == statuses[final]
    for attempts, max_attempts, errors in dead:
        assert attempts == max_attempts == 3
        assert len(errors) == 3
        assert all("always fails" in e["error"] or "no JSON object" in e["error"] for e in errors)
    if mode == "fail-review":
        assert all("I think this ad is fine" in e["error"] for *_, errors in dead for e in errors)
    assert db.execute("SELECT count(*) FROM genome.ad_reviews").fetchone()[0] == 0


def _run_offline(db_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOME_STORAGE_DIR", str(tmp_path))
    stop = threading.Event()
    t = threading.Thread(
        target=run_agents,
        args=(db_dsn, None, 2, "offline"),
        kwargs={"stop": stop, "idle_exit": 1.0, "poll_interval": 0.2, "probe_interval": 1.0},
        daemon=True,
    )
    t.start()
    t.join(120)
    stop.set()
    assert not t.is_alive(), "agents did not finish within 120 s"


def test_review_prompts_get_the_nearest_exemplars_of_the_image(
    db: psycopg.Connection, db_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline provider end to end: with no exemplars a review is one model call; once
    the brand has a library, the review agent describes and embeds the image and its prompt
    gets the exemplars nearest that image (checked by brute force against the ad's stored
    embedding, which the embed stage later makes from the same image)."""
    p = make_product(db)
    make_ads(db, p["product"], 16)
    _run_offline(db_dsn, tmp_path, monkeypatch)
    calls = db.execute(
        "SELECT DISTINCT array_agg(c.operation ORDER BY c.operation) FROM genome.agent_jobs j "
        "JOIN genome.provider_calls c ON c.agent_job_id = j.id WHERE j.kind = 'review' GROUP BY j.id"
    ).fetchall()
    assert calls == [(["review"],)]
    approved = [
        r[0]
        for r in db.execute(
            "SELECT id FROM generated_ads WHERE final_status = 'approved' ORDER BY id"
        ).fetchall()
    ]
    assert len(approved) >= 6
    for ad, kind in zip(approved, ["gold_approve", "gold_reject", "edge_case"] * 3, strict=False):
        db.execute("SELECT genome.add_exemplar(%s, %s, 'from the first batch')", (ad, kind))

    new_ads = make_ads(db, p["product"], 8)
    _run_offline(db_dsn, tmp_path, monkeypatch)
    reviews = db.execute(
        "SELECT r.generated_ad_id, r.exemplar_ids, g.final_status FROM genome.ad_reviews r "
        "JOIN generated_ads g ON g.id = r.generated_ad_id "
        "WHERE r.stage = 'review' AND r.generated_ad_id = ANY(%s)",
        (new_ads,),
    ).fetchall()
    # Ads the defect scan rejected are never reviewed.
    scanned_out = db.execute(
        "SELECT count(*) FROM generated_ads g WHERE g.id = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM genome.ad_reviews r WHERE r.generated_ad_id = g.id)",
        (new_ads,),
    ).fetchone()[0]
    assert len(reviews) + scanned_out == len(new_ads) and len(reviews) >= 4
    assert all(len(r[1]) == 4 for r in reviews)  # EXEMPLAR_COUNT of the library's 9
    checked = 0
    for ad, exemplar_ids, status in reviews:
        if status != "approved":
            continue
        ad_vec = db.execute(
            "SELECT visual_embedding::real[] FROM generated_ads WHERE id = %s", (ad,)
        ).fetchone()[0]
        library = db.execute(
            "SELECT id, exemplar_embedding::real[] FROM genome.ad_quality_exemplars WHERE is_active"
        ).fetchall()
        q = np.array(ad_vec) / np.linalg.norm(ad_vec)
        cos = [float(np.array(v) @ q / np.linalg.norm(v)) for _, v in library]
        nearest = [library[i][0] for i in np.argsort(cos)[::-1][:4]]
        assert exemplar_ids == nearest
        checked += 1
    assert checked >= 1
    calls = dict(
        db.execute(
            "SELECT j.kind, array_agg(DISTINCT (SELECT coalesce(string_agg(c.operation, '+' "
            "ORDER BY c.operation), '-') FROM genome.provider_calls c WHERE c.agent_job_id = j.id)) "
            "FROM genome.agent_jobs j WHERE j.generated_ad_id = ANY(%s) "
            "AND j.kind IN ('review', 'embed') GROUP BY j.kind",
            (new_ads,),
        ).fetchall()
    )
    # The review describes and embeds the image once; the embed stage reuses both.
    assert calls == {"review": ["describe+embed+review"], "embed": ["-"]}
    embed_results = db.execute(
        "SELECT j.result ->> 'from_lookup_of_job' = r.agent_job_id::text "
        "FROM genome.agent_jobs j JOIN genome.ad_reviews r "
        "ON r.generated_ad_id = j.generated_ad_id AND r.stage = 'review' "
        "WHERE j.kind = 'embed' AND j.generated_ad_id = ANY(%s)",
        (new_ads,),
    ).fetchall()
    assert embed_results and all(r[0] for r in embed_results)


def _events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "genome.agents"]
    return [x for x in lines if x["event"] == event]


def test_lease_lost_only_for_a_job_taken_from_the_worker(
    db: psycopg.Connection,
    db_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Heartbeats that land just after the worker completed its job are refused (the job is
    no longer running) and must not log lease_lost; a job taken by another worker while it
    runs still does. The heartbeat is slowed so that every beat races a completion."""
    caplog.set_level(logging.INFO, logger="genome.agents")
    monkeypatch.setenv("GENOME_STORAGE_DIR", str(tmp_path))
    completed = [
        db.execute("SELECT genome.enqueue_job('noop', NULL)").fetchone()[0] for _ in range(40)
    ]
    taken = db.execute("SELECT genome.enqueue_job('noop', NULL)").fetchone()[0]
    holding, taken_away = threading.Event(), threading.Event()
    real_heartbeat, real_complete = JobQueue.heartbeat, JobQueue.complete

    def late_heartbeat(self: JobQueue, job_id: uuid.UUID) -> bool:
        time.sleep(0.15)  # longer than a completion below takes: the job is done by now
        return real_heartbeat(self, job_id)

    def slow_complete(self: JobQueue, job_id: uuid.UUID, result: dict[str, object]) -> bool:
        if job_id == taken and not taken_away.is_set():
            holding.set()
            taken_away.wait(20)
        else:
            time.sleep(0.1)
        return real_complete(self, job_id, result)

    monkeypatch.setattr(JobQueue, "heartbeat", late_heartbeat)
    monkeypatch.setattr(JobQueue, "complete", slow_complete)
    stop = threading.Event()
    agent = threading.Thread(
        target=run_agents,
        args=(db_dsn, ["noop"], 4, "offline", stop, 1.0),
        kwargs={"providers": double_providers("ok"), "lease_seconds": 1.5, "poll_interval": 0.2},
        daemon=True,
    )
    agent.start()
    try:
        assert holding.wait(30), "the agent did not claim the job to take away"
        db.execute(
            "UPDATE genome.agent_jobs SET leased_by = 'another-worker' WHERE id = %s", (taken,)
        )
        deadline = time.monotonic() + 10
        while not _events(caplog, "lease_lost") and time.monotonic() < deadline:
            time.sleep(0.1)
        taken_away.set()
        agent.join(90)
        assert not agent.is_alive(), "the agent did not finish within 90 s"
    finally:
        taken_away.set()
        stop.set()
        agent.join(10)
    outcomes = {x["id"]: x["outcome"] for x in _events(caplog, "job") if x["id"] != str(taken)}
    assert outcomes == {str(j): "succeeded" for j in completed}
    assert {x["id"] for x in _events(caplog, "lease_lost")} == {str(taken)}
    taken_outcomes = [x["outcome"] for x in _events(caplog, "job") if x["id"] == str(taken)]
    assert taken_outcomes[0] == "lease_lost"


def test_the_pool_check_asks_the_server_only_when_the_socket_has_news(
    db: psycopg.Connection, db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md#connections: a healthy idle connection is handed out without a
    query; one whose backend was terminated is found out (its socket has the server's
    goodbye) and refused, so the pool connects again."""
    from psycopg_pool import ConnectionPool

    from agents.jobqueue import check_idle_connection

    asked: list[int] = []
    real = ConnectionPool.check_connection
    monkeypatch.setattr(
        ConnectionPool,
        "check_connection",
        staticmethod(lambda conn: (asked.append(conn.info.backend_pid), real(conn))[1]),
    )
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        for _ in range(3):
            check_idle_connection(conn)
        assert asked == []
        pid = conn.info.backend_pid
        assert db.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        deadline = time.monotonic() + 5
        with pytest.raises(psycopg.OperationalError):
            while time.monotonic() < deadline:
                check_idle_connection(conn)
                time.sleep(0.01)
        assert asked and asked[-1] == pid
        with pytest.raises(psycopg.OperationalError):
            check_idle_connection(conn)  # now closed: refused without asking


def test_embeddings_sent_in_binary_equal_their_text_form(db: psycopg.Connection) -> None:
    """agents.jobqueue.EmbeddingDumper: pgvector's binary input gives the same vector as
    its text input of the same values (float4 either way), and bad values are refused as
    they are in text."""
    from agents.jobqueue import Embedding, EmbeddingDumper

    db.adapters.register_dumper(Embedding, EmbeddingDumper)
    rng = np.random.default_rng(5)
    for values in (rng.standard_normal(1536).tolist(), [1e-30, -3.5, 0.0, 7e10]):
        text = "[" + ",".join(repr(float(x)) for x in values) + "]"
        assert db.execute(
            "SELECT %s::vector = %s::vector, vector_dims(%s::vector)",
            (Embedding(values), text, Embedding(values)),
        ).fetchone() == (True, len(values))
    with pytest.raises(psycopg.errors.DataException):
        db.execute("SELECT %s::vector", (Embedding([1.0, float("nan")]),))
