"""The agent queue through SQL: enqueue, NOTIFY, claim, heartbeat, fail with backoff,
dead-letter, reap and release, and lease fencing of the result writers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.pipeline import CLEAN_SCAN, call, claim, make_ads, make_product


def _job(conn: psycopg.Connection, job_id: uuid.UUID) -> dict:
    return (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM genome.agent_jobs WHERE id = %s", (job_id,))
        .fetchone()
    )


def _count(conn: psycopg.Connection, sql: str, *args: object) -> int:
    return conn.execute(sql, args).fetchone()[0]


def test_enqueue_is_idempotent_per_ad_and_kind(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1, enqueue=False)
    first = db.execute("SELECT genome.enqueue_job('generate', %s)", (ad,)).fetchone()[0]
    again = db.execute("SELECT genome.enqueue_job('generate', %s, '{\"x\": 1}')", (ad,)).fetchone()[
        0
    ]
    assert first == again
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE generated_ad_id = %s", ad) == 1
    assert _job(db, first)["payload"] == {}
    assert _job(db, first)["max_attempts"] == 3  # settings job_max_attempts
    other = db.execute("SELECT genome.enqueue_job('defect_scan', %s)", (ad,)).fetchone()[0]
    assert other != first


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        (("paint", "AD", "{}"), "GN401"),
        (("generate", None, "{}"), "GN400"),
        (("generate", "AD", "[1]"), "GN400"),
        (("generate", str(uuid.uuid4()), "{}"), "GN006"),
    ],
)
def test_enqueue_rejects_bad_input_and_writes_nothing(
    db: psycopg.Connection, args: tuple, sqlstate: str
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1, enqueue=False)
    kind, ad_arg, payload = args
    ad_arg = ad if ad_arg == "AD" else ad_arg
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.enqueue_job(%s, %s::uuid, %s::jsonb)", (kind, ad_arg, payload))
    assert err.value.sqlstate == sqlstate
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs") == 0


def test_batch_enqueue_is_one_statement_with_the_same_rules(
    db: psycopg.Connection, db_dsn: str
) -> None:
    """enqueue_jobs: ids in the order given (an ad's existing job, or its first one when it
    comes twice), one NOTIFY for the batch, the queue limit checked on the whole batch."""
    p = make_product(db)
    ads = make_ads(db, p["product"], 4, enqueue=False)
    old = db.execute("SELECT genome.enqueue_job('review', %s)", (ads[0],)).fetchone()[0]
    batch = [ads[0], ads[1], ads[2], ads[1]]
    with psycopg.connect(db_dsn, autocommit=True) as listener:
        listener.execute("LISTEN genome_jobs")
        ids = db.execute(
            "SELECT genome.enqueue_jobs('review', %s, %s::jsonb[])",
            (batch, ['{"a": 1}', '{"b": 2}', "{}", '{"c": 3}']),
        ).fetchone()[0]
        got = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=2)]
    assert got == [{"kind": "review", "jobs": 2}]
    assert ids[0] == old and ids[1] == ids[3] and len(set(ids)) == 3
    assert _job(db, ids[1])["payload"] == {"b": 2}  # the first of an ad's two in the batch
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'review'") == 3
    noops = db.execute("SELECT genome.enqueue_jobs('noop', NULL, NULL)").fetchone()[0]
    assert noops == []
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.enqueue_jobs('embed', %s, ARRAY['{}'::jsonb])", (ads[:2],))
    assert err.value.sqlstate == "GN400"
    # 3 queued; a limit of 4 takes one more job, not a batch of two (nothing of it is queued).
    db.execute(
        "UPDATE genome.settings SET value = '4' WHERE key = 'max_queued_jobs_per_organization'"
    )
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.enqueue_jobs('embed', %s)", (ads[2:],))
    assert err.value.sqlstate == "GN414"
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'embed'") == 0
    db.execute("SELECT genome.enqueue_jobs('embed', %s)", (ads[3:],))
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'embed'") == 1


def test_insert_notifies_genome_jobs_with_kind_and_id(db: psycopg.Connection, db_dsn: str) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1, enqueue=False)
    with psycopg.connect(db_dsn, autocommit=True) as listener:
        listener.execute("LISTEN genome_jobs")
        job = db.execute("SELECT genome.enqueue_job('generate', %s)", (ad,)).fetchone()[0]
        got = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert got == [{"kind": "generate", "id": str(job)}]


def test_claim_skips_locked_jobs_and_counts_attempts(db: psycopg.Connection, db_dsn: str) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 5)
    with psycopg.connect(db_dsn) as other:  # a transaction that stays open
        held = other.execute(
            "SELECT id FROM genome.claim_jobs(ARRAY['generate'], 'w-a', '60 seconds', 2)"
        ).fetchall()
        assert len(held) == 2
        got = db.execute(
            "SELECT id, attempts, leased_by FROM genome.claim_jobs(ARRAY['generate'], 'w-b', '60 seconds', 10)"
        ).fetchall()
        assert len(got) == 3
        assert {r[0] for r in got}.isdisjoint({r[0] for r in held})
        assert {(r[1], r[2]) for r in got} == {(1, "w-b")}
        other.commit()
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE status = 'running'") == 5
    assert _count(db, "SELECT count(*) FROM genome.agent_job_attempts WHERE ended_at IS NULL") == 5
    assert (
        db.execute(
            "SELECT count(*) FROM genome.claim_jobs(ARRAY['generate'], 'w-c', '1 minute', 5)"
        ).fetchone()[0]
        == 0
    )


def test_claim_takes_later_stages_first_and_respects_run_after(db: psycopg.Connection) -> None:
    p = make_product(db)
    a, b, c = make_ads(db, p["product"], 3, enqueue=False)
    db.execute("SELECT genome.enqueue_job('generate', %s)", (a,))
    db.execute("SELECT genome.enqueue_job('review', %s)", (b,))
    db.execute("SELECT genome.enqueue_job('embed', %s, '{}', now() + interval '1 hour')", (c,))
    kinds = [
        r[0]
        for r in db.execute(
            "SELECT kind FROM genome.claim_jobs(genome._job_kinds(), 'w', '1 minute', 10)"
        )
    ]
    assert kinds == ["review", "generate"]
    later = db.execute(
        "SELECT kind FROM genome.claim_jobs(ARRAY['embed'], 'w', '1 minute', 10, now() + interval '2 hours')"
    ).fetchall()
    assert later == [("embed",)]


@pytest.mark.parametrize(
    ("call_sql", "sqlstate"),
    [
        ("SELECT * FROM genome.claim_jobs(ARRAY[]::text[], 'w', '1 minute', 1)", "GN400"),
        ("SELECT * FROM genome.claim_jobs(ARRAY['paint'], 'w', '1 minute', 1)", "GN401"),
        ("SELECT * FROM genome.claim_jobs(ARRAY['generate'], '', '1 minute', 1)", "GN400"),
        ("SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '0 seconds', 1)", "GN400"),
        ("SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 0)", "GN400"),
        (
            "SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1, 'infinity')",
            "GN004",
        ),
        ("SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1, NULL)", "GN004"),
    ],
)
def test_claim_rejects_bad_input(db: psycopg.Connection, call_sql: str, sqlstate: str) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    with pytest.raises(psycopg.Error) as err:
        db.execute(call_sql)
    assert err.value.sqlstate == sqlstate
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE status = 'queued'") == 1


def test_heartbeat_extends_only_the_holders_lease(db: psycopg.Connection) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    job = claim(db, "generate", "w1", "10 seconds")
    assert db.execute(
        "SELECT genome.heartbeat_job(%s, 'w1', '300 seconds')", (job["id"],)
    ).fetchone()[0]
    until = _job(db, job["id"])["leased_until"]
    assert until - job["leased_until"] > timedelta(seconds=200)
    assert not db.execute(
        "SELECT genome.heartbeat_job(%s, 'w2', '300 seconds')", (job["id"],)
    ).fetchone()[0]
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.heartbeat_job(%s, 'w1', '1 minute')", (uuid.uuid4(),))
    assert err.value.sqlstate == "GN403"


def test_fail_job_backs_off_exponentially_then_dead_letters(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    base = 5.0  # settings job_backoff_base_seconds
    now = db.execute("SELECT now()").fetchone()[0]
    for attempt in (1, 2, 3):
        t = now + timedelta(hours=attempt)
        job = (
            db.cursor(row_factory=dict_row)
            .execute(
                "SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w1', '1 minute', 1, %s)", (t,)
            )
            .fetchone()
        )
        assert job["attempts"] == attempt
        status = db.execute(
            "SELECT genome.fail_job(%s, 'w1', %s, %s)", (job["id"], f"boom {attempt}", t)
        ).fetchone()[0]
        row = _job(db, job["id"])
        if attempt < 3:
            assert status == "queued"
            delay = (row["run_after"] - t).total_seconds()
            expected = base * 2 ** (attempt - 1)
            assert 0.5 * expected <= delay < 1.5 * expected
            assert row["leased_by"] is None
        else:
            assert status == "dead"
    assert [e["error"] for e in row["errors"]] == ["boom 1", "boom 2", "boom 3"]
    assert [e["attempt"] for e in row["errors"]] == [1, 2, 3]
    assert row["last_error"] == "boom 3"
    ad_row = db.execute(
        "SELECT final_status, decision_reason FROM generated_ads WHERE id = %s", (ad,)
    ).fetchone()
    assert ad_row[0] == "generation_failed"
    assert "boom 3" in ad_row[1]
    outcomes = [
        r[0]
        for r in db.execute(
            "SELECT outcome FROM genome.agent_job_attempts WHERE agent_job_id = %s ORDER BY id",
            (row["id"],),
        )
    ]
    assert outcomes == ["failed", "failed", "dead"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("review", "review_failed"),
        ("defect_scan", "review_failed"),
        ("second_opinion", "review_failed"),
        ("embed", "approved"),
    ],
)
def test_dead_stage_sets_the_ad_status(db: psycopg.Connection, kind: str, expected: str) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1, enqueue=False)
    if kind == "embed":
        db.execute(
            "UPDATE generated_ads SET final_status = 'approved', decision_reason = 'review ok' WHERE id = %s",
            (ad,),
        )
    db.execute("UPDATE genome.settings SET value = '1' WHERE key = 'job_max_attempts'")
    db.execute("SELECT genome.enqueue_job(%s, %s)", (kind, ad))
    job = claim(db, kind)
    assert (
        db.execute("SELECT genome.fail_job(%s, 'w1', 'model down')", (job["id"],)).fetchone()[0]
        == "dead"
    )
    status, reason = db.execute(
        "SELECT final_status, decision_reason FROM generated_ads WHERE id = %s", (ad,)
    ).fetchone()
    assert status == expected
    if kind == "embed":
        assert reason.startswith("review ok; embedding dead-lettered")


def test_fail_job_needs_the_lease(db: psycopg.Connection) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    job = claim(db, "generate", "w1")
    for worker, error, state in (("w2", "x", "GN404"), ("w1", "", "GN400")):
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT genome.fail_job(%s, %s, %s)", (job["id"], worker, error))
        assert err.value.sqlstate == state
    assert _job(db, job["id"])["errors"] == []


def test_reap_and_fail_job_refuse_a_bad_p_now(db: psycopg.Connection) -> None:
    # The queue checks p_now like every other function: GN004 (docs/errors.md).
    p = make_product(db)
    make_ads(db, p["product"], 1)
    job = claim(db, "generate", "w1")
    for call_sql, args in (
        ("SELECT genome.reap_jobs(%s)", ("infinity",)),
        ("SELECT genome.fail_job(%s, 'w1', 'boom', %s)", (job["id"], "-infinity")),
        ("SELECT genome.fail_job(%s, 'w1', 'boom', NULL)", (job["id"],)),
    ):
        with pytest.raises(psycopg.Error) as err:
            db.execute(call_sql, args)
        assert err.value.sqlstate == "GN004", call_sql
    assert _job(db, job["id"])["errors"] == []
    assert _job(db, job["id"])["status"] == "running"


def test_reap_returns_expired_leases_and_counts_the_attempt(db: psycopg.Connection) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 2)
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'job_max_attempts'")
    db.execute("UPDATE genome.agent_jobs SET max_attempts = 2")
    short = claim(db, "generate", "w-short", "1 second")
    long = claim(db, "generate", "w-long", "1 hour")
    later = "now() + interval '1 minute'"
    assert db.execute(f"SELECT genome.reap_jobs({later})").fetchone()[0] == 1
    row = _job(db, short["id"])
    assert (row["status"], row["attempts"], row["leased_by"]) == ("queued", 1, None)
    # The holder is recorded in errors[].worker, not in the text the next claimer reads.
    assert row["last_error"].startswith("lease expired at")
    assert row["errors"][-1]["worker"] == "w-short" and "w-short" not in row["last_error"]
    assert _job(db, long["id"])["status"] == "running"
    # Second expiry at max_attempts: dead, and the ad fails.
    again = (
        db.cursor(row_factory=dict_row)
        .execute(
            f"SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w-2', '1 second', 1, {later})"
        )
        .fetchone()
    )
    assert again["id"] == short["id"] and again["attempts"] == 2
    assert db.execute("SELECT genome.reap_jobs(now() + interval '30 minutes')").fetchone()[0] == 1
    assert _job(db, short["id"])["status"] == "dead"
    assert len(_job(db, short["id"])["errors"]) == 2
    failed = db.execute(
        "SELECT final_status FROM generated_ads WHERE id = %s", (short["generated_ad_id"],)
    ).fetchone()[0]
    assert failed == "generation_failed"
    assert _job(db, long["id"])["status"] == "running"


def test_release_gives_the_job_back_without_counting(db: psycopg.Connection) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    job = claim(db, "generate", "w1")
    assert not db.execute("SELECT genome.release_job(%s, 'w2')", (job["id"],)).fetchone()[0]
    assert db.execute("SELECT genome.release_job(%s, 'w1')", (job["id"],)).fetchone()[0]
    row = _job(db, job["id"])
    assert (row["status"], row["attempts"], row["errors"]) == ("queued", 0, [])
    again = claim(db, "generate", "w3")
    assert again["attempts"] == 1


def test_result_writer_fences_out_a_reaped_worker(db: psycopg.Connection) -> None:
    """A worker whose lease expired and was reaped writes nothing; the new holder writes
    one row, and its retried call after a lost reply writes nothing more."""
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    job = claim(db, "generate", "w1")
    db.execute(
        "SELECT genome.record_generation(%s, 'w1', '/tmp/a.png', 'p', %s)",
        (job["id"], json.dumps(call("generate", "google"))),
    )
    scan = claim(db, "defect_scan", "old", "1 second")
    db.execute("SELECT genome.reap_jobs(now() + interval '10 seconds')")
    new = (
        db.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM genome.claim_jobs(ARRAY['defect_scan'], 'new', '1 minute', 1, now() + interval '10 seconds')"
        )
        .fetchone()
    )
    assert new["id"] == scan["id"]
    args = (json.dumps(CLEAN_SCAN), json.dumps(call("defect_scan", "google")))
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.record_defect_scan(%s, 'old', %s, %s)", (scan["id"], *args))
    assert err.value.sqlstate == "GN404"
    for _ in range(2):
        assert (
            db.execute(
                "SELECT genome.record_defect_scan(%s, 'new', %s, %s)", (scan["id"], *args)
            ).fetchone()[0]
            == "pending"
        )
    assert (
        _count(db, "SELECT count(*) FROM genome.ad_defect_scans WHERE generated_ad_id = %s", ad)
        == 1
    )
    assert (
        _count(db, "SELECT count(*) FROM genome.provider_calls WHERE agent_job_id = %s", scan["id"])
        == 1
    )
    assert (
        _count(
            db,
            "SELECT count(*) FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = 'review'",
            ad,
        )
        == 1
    )
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.record_defect_scan(%s, 'new', %s, %s)", (job["id"], *args))
    assert err.value.sqlstate == "GN405"


def test_complete_job_for_noop(db: psycopg.Connection) -> None:
    job_id = db.execute("SELECT genome.enqueue_job('noop', NULL)").fetchone()[0]
    job = claim(db, "noop", "w1")
    assert job["id"] == job_id
    assert db.execute(
        "SELECT genome.complete_job(%s, 'w1', '{\"ok\": true}')", (job_id,)
    ).fetchone()[0]
    assert not db.execute("SELECT genome.complete_job(%s, 'w1')", (job_id,)).fetchone()[0]
    row = _job(db, job_id)
    assert (row["status"], row["result"]) == ("succeeded", {"ok": True})
