"""Planting helpers shared by the monitoring, validation, experiment and V1/V2 tests.

(A module of test helpers only: pytest collects it and finds no tests.)"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
from psycopg.types.json import Jsonb

TAGS = {"hook_type": "question", "color_mode": "brand"}


def ads(
    db: psycopg.Connection,
    run_id: uuid.UUID,
    statuses: list[str],
    *,
    decided_at: dt.datetime | None = None,
    source: str | None = "plan",
    imported: bool = False,
    pre_gen_scores: list[float | None] | None = None,
) -> list[uuid.UUID]:
    """Ads of one run with the given final statuses (one per entry), in one statement."""
    batch = uuid.uuid4().hex[:10]
    scores = pre_gen_scores if pre_gen_scores is not None else [None] * len(statuses)
    rows = db.execute(
        """
        INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, element_tags,
                                   element_tags_source, final_status, decided_at, is_imported,
                                   pre_gen_score, created_at)
        SELECT %(run)s, 1, 'test-' || %(batch)s || '-' || t.n, genome.normalize_tags(%(tags)s),
               %(source)s, t.status, %(decided)s, %(imported)s, t.score,
               coalesce(%(decided)s, now())
        FROM unnest(%(statuses)s::text[], %(scores)s::numeric[]) WITH ORDINALITY AS t (status, score, n)
        ORDER BY t.n
        RETURNING id
        """,
        {
            "run": run_id,
            "batch": batch,
            "tags": Jsonb(TAGS),
            "source": source,
            "statuses": statuses,
            "scores": scores,
            "decided": decided_at,
            "imported": imported,
        },
    ).fetchall()
    return [r[0] for r in rows]


def decided(
    db: psycopg.Connection, run_id: uuid.UUID, approved: int, rejected: int, at: dt.datetime
) -> list[uuid.UUID]:
    return ads(db, run_id, ["approved"] * approved + ["rejected"] * rejected, decided_at=at)


def generate_jobs(
    db: psycopg.Connection, run_id: uuid.UUID, succeeded: int, dead: int, at: dt.datetime
) -> None:
    """Finished generate jobs (one per new ad) of a run."""
    ids = ads(db, run_id, ["pending"] * (succeeded + dead), decided_at=at)
    db.execute(
        """
        INSERT INTO genome.agent_jobs (kind, generated_ad_id, status, attempts, finished_at,
                                       created_at, updated_at)
        SELECT 'generate', t.id, CASE WHEN t.n <= %(ok)s THEN 'succeeded' ELSE 'dead' END, 1,
               %(at)s, %(at)s, %(at)s
        FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS t (id, n)
        """,
        {"ids": ids, "ok": succeeded, "at": at},
    )


def rewards(
    db: psycopg.Connection,
    ad_ids: list[uuid.UUID],
    scores: list[float],
    *,
    matured_at: dt.datetime,
    first_date: dt.date | None = None,
    ctrs: list[float | None] | None = None,
    roases: list[float | None] | None = None,
) -> None:
    """One matured reward per ad (brand reached through run -> product), in one statement."""
    n = len(ad_ids)
    db.execute(
        """
        INSERT INTO genome.creative_element_rewards (
            organization_id, brand_id, product_id, generated_ad_id, element_tags, reward_score,
            reward_components, reward_objective, matured_at, revised_at, first_date, last_date,
            total_impressions, total_clicks, total_purchases, total_spend, total_purchase_value,
            raw_ctr, raw_roas, is_imported, attribution_path
        )
        SELECT b.organization_id, b.id, p.id, g.id, g.element_tags, t.score, '{}', 'CONVERSIONS',
               %(at)s, %(at)s, coalesce(%(first)s, %(at)s::date - 10), %(at)s::date - 1,
               1000, 20, 0, 10, 0, t.ctr, t.roas, g.is_imported, 'mapping'
        FROM unnest(%(ids)s::uuid[], %(scores)s::float8[], %(ctrs)s::float8[], %(roases)s::float8[])
             AS t (id, score, ctr, roas)
        JOIN generated_ads AS g ON g.id = t.id
        JOIN ad_runs AS r ON r.id = g.ad_run_id
        JOIN products AS p ON p.id = r.product_id
        JOIN brands AS b ON b.id = p.brand_id
        """,
        {
            "ids": ad_ids,
            "scores": scores,
            "ctrs": ctrs if ctrs is not None else [None] * n,
            "roases": roases if roases is not None else [None] * n,
            "at": matured_at,
            "first": first_date,
        },
    )


def alerts(db: psycopg.Connection, brand_id: uuid.UUID, alert_type: str) -> list[tuple]:
    """(id, severity, status) of every alert of a brand and type, oldest first."""
    return db.execute(
        "SELECT id, severity, status FROM genome.system_alerts "
        "WHERE brand_id = %s AND alert_type = %s ORDER BY created_at, id",
        (brand_id, alert_type),
    ).fetchall()


def open_alert(db: psycopg.Connection, brand_id: uuid.UUID, alert_type: str) -> tuple | None:
    rows = db.execute(
        "SELECT id, severity, status, metric_value, details FROM genome.system_alerts "
        "WHERE brand_id = %s AND alert_type = %s AND status IN ('active', 'acknowledged')",
        (brand_id, alert_type),
    ).fetchall()
    assert len(rows) <= 1, rows
    return rows[0] if rows else None
