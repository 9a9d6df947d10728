"""Read and write access for the dashboard: plain SQL against the genome API, one short
connection per request (the dashboard holds no state of its own)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Row = dict[str, Any]


def connect(dsn: str) -> psycopg.Connection[Row]:
    return psycopg.connect(dsn, autocommit=True, row_factory=dict_row)


def as_of(conn: psycopg.Connection[Row], override: str | None) -> dt.datetime:
    """The time the pages are computed at: ?now=, else the latest job run's p_now (the demo
    drives a virtual clock), else the server's now()."""
    if override:
        return dt.datetime.fromisoformat(override)
    row = conn.execute(
        "SELECT coalesce((SELECT max(p_now) FROM genome.job_runs), now()) AS t"
    ).fetchone()
    assert row is not None
    return row["t"]


def brands(conn: psycopg.Connection[Row]) -> list[Row]:
    return conn.execute(
        """
        SELECT b.id, b.name, b.category, b.cross_brand_sharing, o.name AS organization,
               gs.genome_version, gs.cold_start_level, gs.matured_ads, gs.is_stale,
               (SELECT count(*) FROM genome.creative_element_rewards r WHERE r.brand_id = b.id)
                   AS rewards
        FROM brands b
        JOIN organizations o ON o.id = b.organization_id
        LEFT JOIN genome.genome_state gs ON gs.brand_id = b.id
        ORDER BY o.name, b.name
        """
    ).fetchall()


def brand(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> Row | None:
    return conn.execute(
        "SELECT id, name, category, cross_brand_sharing FROM brands WHERE id = %s", (brand_id,)
    ).fetchone()


def scores(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    """Brand-level posterior per element value with its 95% interval."""
    return conn.execute("SELECT * FROM genome.brand_element_scores(%s)", (brand_id,)).fetchall()


def causal_effects(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    return conn.execute(
        """
        SELECT c.test_variable, c.control_value, c.treatment_value, c.primary_metric,
               c.effect_size::float8 AS effect, c.relative_effect::float8 AS relative_effect,
               c.ci_lower::float8 AS ci_lower, c.ci_upper::float8 AS ci_upper,
               c.posterior_prob_positive::float8 AS p_positive, e.name AS experiment
        FROM genome.causal_effects c
        JOIN genome.experiments e ON e.id = c.experiment_id
        WHERE c.brand_id = %s
        ORDER BY c.created_at DESC
        """,
        (brand_id,),
    ).fetchall()


def interactions(conn: psycopg.Connection[Row], brand_id: uuid.UUID, now: dt.datetime) -> list[Row]:
    return conn.execute(
        "SELECT * FROM genome.interactions(%s, %s) ORDER BY rank", (brand_id, now)
    ).fetchall()


def experiments(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    return conn.execute(
        """
        SELECT e.id, e.name, e.hypothesis, e.test_variable, e.status, e.verdict,
               e.primary_metric, e.started_at, e.completed_at, e.result_summary,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'date', a.analysis_date, 'decision', a.decision, 'arms', a.arms)
                          ORDER BY a.analysis_date)
                         FROM genome.experiment_analyses a WHERE a.experiment_id = e.id),
                        '[]'::jsonb) AS history
        FROM genome.experiments e
        WHERE e.brand_id = %s
        ORDER BY e.created_at DESC
        """,
        (brand_id,),
    ).fetchall()


def review_queue(conn: psycopg.Connection[Row], limit: int = 50) -> list[Row]:
    """Ads waiting for a human: flagged, and reviewed ones without a human decision yet."""
    return conn.execute(
        """
        SELECT g.id, g.final_status, g.decision_reason, g.review_weighted_score::float8 AS score,
               g.element_tags, g.storage_path, b.name AS brand, g.created_at
        FROM generated_ads g
        JOIN ad_runs r ON r.id = g.ad_run_id
        JOIN products p ON p.id = r.product_id
        JOIN brands b ON b.id = p.brand_id
        WHERE g.human_override_status IS NULL
          AND g.final_status IN ('flagged', 'approved', 'rejected')
        ORDER BY (g.final_status = 'flagged') DESC, g.created_at DESC, g.id
        LIMIT %s
        """,
        (limit,),
    ).fetchall()


def record_override(
    conn: psycopg.Connection[Row], ad_id: uuid.UUID, status: str, reason: str, user: str
) -> uuid.UUID:
    row = conn.execute(
        "SELECT genome.record_override(%s, %s, %s, %s, %s) AS id",
        (ad_id, status, reason, Jsonb({}), user),
    ).fetchone()
    assert row is not None
    return row["id"]


def alerts(conn: psycopg.Connection[Row]) -> list[Row]:
    return conn.execute(
        """
        SELECT a.id, a.alert_type, a.severity, a.title, a.status, a.metric_value, a.details,
               a.acknowledged_by, a.acknowledged_at, a.created_at, b.name AS brand
        FROM genome.system_alerts a
        LEFT JOIN brands b ON b.id = a.brand_id
        WHERE a.status IN ('active', 'acknowledged')
        ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                 a.created_at DESC
        """
    ).fetchall()


def acknowledge(conn: psycopg.Connection[Row], alert_id: uuid.UUID, user: str) -> None:
    conn.execute("SELECT genome.acknowledge(%s, %s)", (alert_id, user))


def v1_v2(conn: psycopg.Connection[Row], brand_id: uuid.UUID, now: dt.datetime) -> list[Row]:
    return conn.execute("SELECT * FROM genome.compare_v1_v2(%s, %s)", (brand_id, now)).fetchall()


def fatigue(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    return conn.execute(
        """
        SELECT af.*, g.element_tags
        FROM genome.ad_fatigue af JOIN generated_ads g ON g.id = af.generated_ad_id
        WHERE af.brand_id = %s
        ORDER BY (af.status = 'fatigued') DESC, af.ctr_decay DESC NULLS LAST
        LIMIT 100
        """,
        (brand_id,),
    ).fetchall()


def fatigue_forecast(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    return conn.execute("SELECT * FROM genome.predict_fatigue(%s) LIMIT 50", (brand_id,)).fetchall()


def whitespace(conn: psycopg.Connection[Row], brand_id: uuid.UUID, now: dt.datetime) -> list[Row]:
    return conn.execute("SELECT * FROM genome.whitespace(%s, %s)", (brand_id, now)).fetchall()
