"""Claims take later pipeline stages first, in an order an index serves (no sort of the queue)."""

from __future__ import annotations

import psycopg


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
            "ORDER BY j.stage_rank DESC, j.run_after, j.created_at, j.id LIMIT 10 "
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
