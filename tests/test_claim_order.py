"""Claims take later pipeline stages first, in an order an index serves (no sort of the queue)."""

from __future__ import annotations

import psycopg
import pytest

from agents.runtime import PIPELINE_KINDS


def test_stage_rank_follows_the_pipeline_order(db: psycopg.Connection) -> None:
    kinds = db.execute("SELECT genome._job_kinds()").fetchone()[0]
    for rank, kind in enumerate(kinds, start=1):
        db.execute("INSERT INTO genome.agent_jobs (kind) VALUES (%s)", (kind,))
        got = db.execute(
            "SELECT stage_rank FROM genome.agent_jobs WHERE kind = %s", (kind,)
        ).fetchone()[0]
        assert got == rank, kind
    claimed = [
        r[0]
        for r in db.execute(
            "SELECT kind FROM genome.claim_jobs(%s, 'w', interval '1 minute', 10)", (kinds,)
        )
    ]
    assert claimed == list(reversed(kinds))


def test_python_kinds_are_the_kinds_table(db: psycopg.Connection) -> None:
    """The agents' one list of kinds is genome.agent_job_kinds, in stage order."""
    kinds = [
        r[0] for r in db.execute("SELECT kind FROM genome.agent_job_kinds ORDER BY stage_rank")
    ]
    assert list(PIPELINE_KINDS) == kinds
    assert db.execute("SELECT genome._job_kinds()").fetchone()[0] == kinds


def test_unknown_kind_is_refused_by_the_kinds_table(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("INSERT INTO genome.agent_jobs (kind) VALUES ('paint')")
    # A rank given by hand is replaced by the table's.
    db.execute("INSERT INTO genome.agent_jobs (kind, stage_rank) VALUES ('noop', 1)")
    assert db.execute(
        "SELECT j.stage_rank = k.stage_rank FROM genome.agent_jobs AS j "
        "JOIN genome.agent_job_kinds AS k USING (kind) WHERE j.kind = 'noop'"
    ).fetchone() == (True,)


def test_reordering_the_stages_reorders_queued_jobs(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO genome.agent_jobs (kind) VALUES ('noop'), ('generate')")
    db.execute("UPDATE genome.agent_job_kinds SET stage_rank = 100 WHERE kind = 'generate'")
    assert db.execute(
        "SELECT stage_rank FROM genome.agent_jobs WHERE kind = 'generate'"
    ).fetchone() == (100,)
    claimed = db.execute(
        "SELECT kind FROM genome.claim_jobs(ARRAY['noop', 'generate'], 'w', interval '1 minute', 2)"
    ).fetchall()
    assert [r[0] for r in claimed] == ["generate", "noop"]


def test_claim_order_uses_the_index_on_a_long_queue(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO genome.agent_jobs (kind, run_after) "
        "SELECT (ARRAY['generate', 'review', 'embed'])[1 + g % 3], now() - g * interval '1 second' "
        "FROM generate_series(1, 20000) AS g"
    )
    db.execute("ANALYZE genome.agent_jobs")
    plan = "\n".join(
        r[0]
        for r in db.execute(
            "EXPLAIN SELECT j.id FROM genome.agent_jobs AS j "
            "WHERE j.status = 'queued' AND j.kind = ANY(%s) AND j.run_after <= now() "
            "ORDER BY (j.attempts > 0) DESC, j.stage_rank DESC, j.run_after, j.created_at, j.id "
            "LIMIT 10 "
            "FOR UPDATE SKIP LOCKED",
            (["generate", "review", "embed"],),
        )
    )
    assert "agent_jobs_claim_order_idx" in plan
    assert "Sort" not in plan
    first = db.execute(
        "SELECT kind FROM genome.claim_jobs(ARRAY['generate', 'review', 'embed'], 'w', "
        "interval '1 minute', 5)"
    ).fetchall()
    assert {r[0] for r in first} == {"embed"}
