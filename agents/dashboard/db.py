"""Read and write access for the dashboard: plain SQL against the genome API, one short
connection per request (the dashboard holds no state of its own).

The connection logs in as genome_dashboard; `tenant` turns each request into one
transaction run as genome_app with app.organization_id set to the logged-in user's
organization, so row-level security keeps every organization's rows to itself
(docs/security.md#dashboard-logins)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Row = dict[str, Any]


def connect(dsn: str) -> psycopg.Connection[Row]:
    return psycopg.connect(dsn, autocommit=True, row_factory=dict_row)


def dashboard_user(dsn: str, username: str) -> Row | None:
    """The dashboard user `username` (with the password hash), as genome_dashboard itself."""
    with connect(dsn) as conn:
        return conn.execute("SELECT * FROM genome.dashboard_user(%s)", (username,)).fetchone()


@contextmanager
def tenant(
    dsn: str, organization_id: uuid.UUID, override: str | None
) -> Iterator[tuple[psycopg.Connection[Row], dt.datetime]]:
    """One transaction as genome_app for `organization_id`, and the time its pages are
    computed at (see as_of; read first, as genome_dashboard, which may read job_runs).
    Committed when the block ends without an exception, rolled back otherwise."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        now = as_of(conn, override)
        conn.execute("SET LOCAL ROLE genome_app")
        conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(organization_id),))
        yield conn, now


def as_of(conn: psycopg.Connection[Row], override: str | None) -> dt.datetime:
    """The time the pages are computed at: ?now=, else the latest job run's p_now (the demo
    drives a virtual clock), else the server's now(). A ?now= that is no timestamp is a
    ValueError."""
    if override:
        t = dt.datetime.fromisoformat(override)
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
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
                        '[]'::jsonb) AS history,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'control', c.control_value, 'treatment', c.treatment_value,
                            'metric', c.primary_metric, 'effect', c.effect_size,
                            'relative', c.relative_effect, 'lower', c.ci_lower,
                            'upper', c.ci_upper, 'p_positive', c.posterior_prob_positive)
                          ORDER BY c.treatment_value)
                         FROM genome.causal_effects c WHERE c.experiment_id = e.id),
                        '[]'::jsonb) AS effects
        FROM genome.experiments e
        WHERE e.brand_id = %s
        ORDER BY e.created_at DESC
        """,
        (brand_id,),
    ).fetchall()


def review_queue(conn: psycopg.Connection[Row], limit: int = 50) -> list[Row]:
    """Ads waiting for a human: flagged, and reviewed ones without a human decision yet, with
    their reviews (stage, reviewer, per-check scores, notes) oldest first."""
    return conn.execute(
        """
        SELECT g.id, g.final_status, g.decision_reason, g.review_weighted_score::float8 AS score,
               g.element_tags, g.storage_path, b.name AS brand, g.created_at,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'stage', r.stage, 'reviewer', r.reviewer, 'model', r.model_used,
                            'score', r.weighted_score, 'verdict', r.verdict,
                            'notes', r.raw_output ->> 'notes', 'checks', r.check_scores)
                          ORDER BY r.created_at)
                         FROM genome.ad_reviews r WHERE r.generated_ad_id = g.id),
                        '[]'::jsonb) AS reviews
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


def review_checks(conn: psycopg.Connection[Row]) -> dict[str, Row]:
    """The rubric's checks by code (name, description)."""
    rows = conn.execute("SELECT code, name, description FROM genome.review_checks").fetchall()
    return {r["code"]: r for r in rows}


def image_key(conn: psycopg.Connection[Row], ad_id: uuid.UUID) -> str | None:
    """The storage key of an ad of this organization (None when the ad is not visible)."""
    row = conn.execute("SELECT storage_path FROM generated_ads WHERE id = %s", (ad_id,)).fetchone()
    return None if row is None else row["storage_path"]


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


def quality_configs(conn: psycopg.Connection[Row]) -> list[Row]:
    """The organization's review configs, newest first, with their calibration metrics."""
    return conn.execute(
        """
        SELECT c.id, c.version, c.is_active, c.brand_id, b.name AS brand, c.approved_by,
               c.activated_at, c.created_at, c.calibrated_from_overrides,
               c.calibration_metrics, c.weighted_pass_threshold::float8 AS pass_threshold,
               p.version AS parent_version
        FROM genome.quality_scoring_config c
        LEFT JOIN brands b ON b.id = c.brand_id
        LEFT JOIN genome.quality_scoring_config p ON p.id = c.parent_config_id
        ORDER BY c.created_at DESC, c.version DESC
        """
    ).fetchall()


def activate_quality_config(
    conn: psycopg.Connection[Row], config_id: uuid.UUID, approver: str, now: dt.datetime
) -> None:
    conn.execute("SELECT genome.activate_quality_config(%s, %s, %s)", (config_id, approver, now))


def exemplars(conn: psycopg.Connection[Row]) -> list[Row]:
    """The exemplar library, active ones first."""
    return conn.execute(
        """
        SELECT e.id, e.generated_ad_id, e.exemplar_type, e.quality_notes, e.visual_description,
               e.is_active, e.created_at, b.name AS brand
        FROM genome.ad_quality_exemplars e
        JOIN brands b ON b.id = e.brand_id
        ORDER BY e.is_active DESC, b.name, e.exemplar_type, e.created_at DESC
        """
    ).fetchall()


def exemplar_candidates(conn: psycopg.Connection[Row], limit: int = 30) -> list[Row]:
    """Ads a human has decided (latest decision each) that are not active exemplars."""
    return conn.execute(
        """
        SELECT * FROM (
            SELECT DISTINCT ON (o.generated_ad_id) o.generated_ad_id AS id, o.human_status,
                   o.human_reason, o.overridden_by, o.created_at, b.name AS brand
            FROM genome.ad_review_overrides o
            JOIN generated_ads g ON g.id = o.generated_ad_id
            JOIN ad_runs r ON r.id = g.ad_run_id
            JOIN products p ON p.id = r.product_id
            JOIN brands b ON b.id = p.brand_id
            WHERE NOT EXISTS (SELECT 1 FROM genome.ad_quality_exemplars e
                              WHERE e.generated_ad_id = o.generated_ad_id AND e.is_active)
            ORDER BY o.generated_ad_id, o.created_at DESC
        ) latest
        ORDER BY created_at DESC
        LIMIT %s
        """,
        (limit,),
    ).fetchall()


def add_exemplar(
    conn: psycopg.Connection[Row], ad_id: uuid.UUID, kind: str, notes: str, now: dt.datetime
) -> uuid.UUID:
    row = conn.execute(
        "SELECT genome.add_exemplar(%s, %s, %s, %s) AS id", (ad_id, kind, notes, now)
    ).fetchone()
    assert row is not None
    return row["id"]


def retire_exemplar(conn: psycopg.Connection[Row], exemplar_id: uuid.UUID) -> None:
    conn.execute("SELECT genome.retire_exemplar(%s)", (exemplar_id,))


def products(conn: psycopg.Connection[Row], brand_id: uuid.UUID) -> list[Row]:
    return conn.execute(
        "SELECT id, name FROM products WHERE brand_id = %s ORDER BY name", (brand_id,)
    ).fetchall()


def dimensions(conn: psycopg.Connection[Row]) -> list[str]:
    """The element dimensions of the registry (those the bandit chooses and scores)."""
    rows = conn.execute(
        "SELECT dimension FROM genome.element_dimensions WHERE kind = 'element' ORDER BY dimension"
    ).fetchall()
    return [r["dimension"] for r in rows]


def propose_experiment(
    conn: psycopg.Connection[Row],
    brand_id: uuid.UUID,
    product_id: uuid.UUID,
    variable: str,
    control: str,
    treatments: list[str],
    hypothesis: str,
    budget: float,
    max_days: int,
    now: dt.datetime,
) -> uuid.UUID:
    row = conn.execute(
        "SELECT genome.propose_experiment(%s, %s, %s::text, %s::text, %s::text[], %s::text,"
        " %s::numeric, %s::integer, p_now => %s) AS id",
        (brand_id, product_id, variable, control, treatments, hypothesis, budget, max_days, now),
    ).fetchone()
    assert row is not None
    return row["id"]


def attribution(
    conn: psycopg.Connection[Row], brand_id: uuid.UUID, dimension: str, now: dt.datetime
) -> list[Row]:
    return conn.execute(
        "SELECT * FROM genome.attribute(%s, %s, %s)", (brand_id, dimension, now)
    ).fetchall()


def costs_by_brand(conn: psycopg.Connection[Row]) -> list[Row]:
    """Model spend per brand and model (genome.provider_calls of the organization's ads)."""
    return conn.execute(
        """
        SELECT b.name AS brand, c.model, c.operation, count(*) AS calls,
               count(*) FILTER (WHERE NOT c.ok) AS failed,
               count(DISTINCT c.generated_ad_id) AS ads,
               sum(c.cost_usd)::float8 AS cost_usd,
               (sum(c.cost_usd) / nullif(count(DISTINCT c.generated_ad_id), 0))::float8
                   AS cost_per_ad
        FROM genome.provider_calls c
        JOIN generated_ads g ON g.id = c.generated_ad_id
        JOIN ad_runs r ON r.id = g.ad_run_id
        JOIN products p ON p.id = r.product_id
        JOIN brands b ON b.id = p.brand_id
        GROUP BY b.name, c.model, c.operation
        ORDER BY b.name, cost_usd DESC, c.model
        """
    ).fetchall()


def costs_by_ad(conn: psycopg.Connection[Row], limit: int = 50) -> list[Row]:
    """The most expensive ads, with their spend per model."""
    return conn.execute(
        """
        SELECT c.generated_ad_id AS id, b.name AS brand, sum(c.cost)::float8 AS cost_usd,
               jsonb_object_agg(c.model, c.cost::float8) AS by_model
        FROM (SELECT generated_ad_id, model, sum(cost_usd) AS cost
              FROM genome.provider_calls WHERE generated_ad_id IS NOT NULL
              GROUP BY generated_ad_id, model) c
        JOIN generated_ads g ON g.id = c.generated_ad_id
        JOIN ad_runs r ON r.id = g.ad_run_id
        JOIN products p ON p.id = r.product_id
        JOIN brands b ON b.id = p.brand_id
        GROUP BY c.generated_ad_id, b.name
        ORDER BY cost_usd DESC, c.generated_ad_id
        LIMIT %s
        """,
        (limit,),
    ).fetchall()
