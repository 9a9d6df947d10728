"""The dashboard web app.

Flask + Jinja, server-rendered with inline SVG charts: chosen over Streamlit because it is a
small, long-maintained WSGI framework (Pallets) that installs from PyPI as pure-Python wheels,
needs no Node build and no websocket runtime, renders plain HTML forms (so the override and
acknowledge buttons are ordinary POSTs a browser test can click), and leaves every
computation to the genome SQL API."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from flask import Flask, abort, current_app, redirect, render_template, request, url_for
from jinja2 import DictLoader
from markupsafe import Markup
from werkzeug.wrappers import Response

from agents.dashboard import db, svg
from agents.dashboard.templates import TEMPLATES

T = TypeVar("T")


def _attempt(errors: list[str], what: str, fn: Callable[[], T], default: T) -> T:
    """Run one query; a database error becomes a message on the page, not a 500."""
    try:
        return fn()
    except psycopg.Error as exc:
        code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        errors.append(f"{what}: {str(exc).splitlines()[0]}{code}")
        return default


def _brand_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        abort(404)


def _connect() -> psycopg.Connection[db.Row]:
    """One short connection per request, to the app's database."""
    return db.connect(current_app.config["GENOME_DSN"])


def _page(template: str, conn: psycopg.Connection[db.Row], **ctx: Any) -> str:
    errors: list[str] = ctx.pop("errors", [])
    now = db.as_of(conn, request.args.get("now"))
    return render_template(template, now=now, errors=errors, msg=request.args.get("msg"), **ctx)


def _brand_or_404(conn: psycopg.Connection[db.Row], raw: str) -> db.Row:
    b = db.brand(conn, _brand_id(raw))
    if b is None:
        abort(404)
    return b


# --- pages (each view's name is its endpoint for url_for) ------------------------------


def index() -> str:
    with _connect() as conn:
        return _page("index.html", conn, brands=db.brands(conn), brand=None)


def scores(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        rows = _attempt(errors, "scores", lambda: db.scores(conn, b["id"]), [])
        dims: dict[str, list[db.Row]] = {}
        for r in rows:
            dims.setdefault(r["dimension"], []).append(r)
        dimensions = [
            (
                d,
                rs,
                Markup(
                    svg.interval_plot(
                        [
                            svg.Interval(r["value"], r["mean"], r["ci_lower"], r["ci_upper"])
                            for r in rs
                        ]
                    )
                ),
            )
            for d, rs in dims.items()
        ]
        return _page("scores.html", conn, brand=b, dimensions=dimensions, errors=errors)


def causal(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        now = db.as_of(conn, request.args.get("now"))
        effects = _attempt(errors, "causal effects", lambda: db.causal_effects(conn, b["id"]), [])
        pairs = _attempt(errors, "interactions", lambda: db.interactions(conn, b["id"], now), [])
        graph = svg.causal_graph(
            [
                svg.Edge(
                    f"{e['test_variable']}={e['treatment_value']}",
                    e["primary_metric"],
                    e["effect"],
                    f"{e['effect']:+.4f} vs {e['control_value']}",
                    e["ci_lower"],
                    e["ci_upper"],
                )
                for e in effects
            ],
            [
                svg.Edge(
                    f"{p['dimension_a']}={p['value_a']}",
                    f"{p['dimension_b']}={p['value_b']}",
                    p["interaction_log_or"],
                    f"interaction log OR {p['interaction_log_or']:+.3f}",
                    p["ci_lower"],
                    p["ci_upper"],
                )
                for p in pairs
                if p["interaction_log_or"] is not None
            ],
        )
        return _page(
            "causal.html",
            conn,
            brand=b,
            effects=effects,
            pairs=pairs,
            graph=Markup(graph),
            errors=errors,
        )


def experiments(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        rows = _attempt(errors, "experiments", lambda: db.experiments(conn, b["id"]), [])
        charts = []
        for e in rows:
            series: dict[str, list[tuple[str, float]]] = {}
            for day in e["history"]:
                for arm in day["arms"] or []:
                    if arm.get("prob_best") is None:
                        continue
                    name = f"{arm.get('arm_name', arm.get('arm_index'))}: {arm.get('value', '')}"
                    series.setdefault(name, []).append((day["date"], float(arm["prob_best"])))
            charts.append((e, Markup(svg.line_chart(series))))
        return _page("experiments.html", conn, brand=b, experiments=charts, errors=errors)


def v1v2(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        now = db.as_of(conn, request.args.get("now"))
        rows = _attempt(errors, "V1 vs V2", lambda: db.v1_v2(conn, b["id"], now), [])
        by_metric: dict[str, list[svg.Interval]] = {}
        for r in rows:
            if r["value"] is not None:
                by_metric.setdefault(r["metric"], []).append(
                    svg.Interval(r["cohort"], r["value"], r["ci_lower"], r["ci_upper"])
                )
        charts = []
        for metric, items in by_metric.items():
            vals = [v for i in items for v in (i.mean, i.lower, i.upper) if v is not None]
            lo, hi = min([*vals, 0.0]), max([*vals, 0.0])
            pad = (hi - lo) * 0.05 or 0.01
            charts.append((metric, Markup(svg.interval_plot(items, lo=lo - pad, hi=hi + pad))))
        return _page("v1v2.html", conn, brand=b, rows=rows, charts=charts, errors=errors)


def fatigue(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        ads = _attempt(errors, "fatigue", lambda: db.fatigue(conn, b["id"]), [])
        forecast = _attempt(errors, "forecast", lambda: db.fatigue_forecast(conn, b["id"]), [])
        return _page("fatigue.html", conn, brand=b, ads=ads, forecast=forecast, errors=errors)


def whitespace(brand_id: str) -> str:
    with _connect() as conn:
        b = _brand_or_404(conn, brand_id)
        errors: list[str] = []
        now = db.as_of(conn, request.args.get("now"))
        rows = _attempt(errors, "whitespace", lambda: db.whitespace(conn, b["id"], now), [])
        return _page("whitespace.html", conn, brand=b, rows=rows, errors=errors)


def review() -> str:
    with _connect() as conn:
        errors: list[str] = []
        ads = _attempt(errors, "review queue", lambda: db.review_queue(conn), [])
        return _page("review.html", conn, ads=ads, brand=None, errors=errors)


def override(ad_id: str) -> Response:
    status = request.form.get("status", "")
    user = request.form.get("user") or "dashboard"
    reason = request.form.get("reason") or f"dashboard: {status}"
    with _connect() as conn:
        errors: list[str] = []
        _attempt(
            errors,
            "override",
            lambda: db.record_override(conn, _brand_id(ad_id), status, reason, user),
            None,
        )
    msg = errors[0] if errors else f"Recorded: ad {ad_id} {status} by {user}"
    return redirect(url_for("review", msg=msg))


def alerts() -> str:
    with _connect() as conn:
        errors: list[str] = []
        rows = _attempt(errors, "alerts", lambda: db.alerts(conn), [])
        return _page("alerts.html", conn, alerts=rows, brand=None, errors=errors)


def acknowledge(alert_id: str) -> Response:
    user = request.form.get("user") or "dashboard"
    with _connect() as conn:
        errors: list[str] = []
        _attempt(
            errors, "acknowledge", lambda: db.acknowledge(conn, _brand_id(alert_id), user), None
        )
    msg = errors[0] if errors else f"Acknowledged alert {alert_id} ({user})"
    return redirect(url_for("alerts", msg=msg))


# The dashboard's pages and actions: (rule, method, view).
ROUTES: tuple[tuple[str, str, Callable[..., str | Response]], ...] = (
    ("/", "GET", index),
    ("/brand/<brand_id>/scores", "GET", scores),
    ("/brand/<brand_id>/causal", "GET", causal),
    ("/brand/<brand_id>/experiments", "GET", experiments),
    ("/brand/<brand_id>/v1v2", "GET", v1v2),
    ("/brand/<brand_id>/fatigue", "GET", fatigue),
    ("/brand/<brand_id>/whitespace", "GET", whitespace),
    ("/review", "GET", review),
    ("/review/<ad_id>", "POST", override),
    ("/alerts", "GET", alerts),
    ("/alerts/<alert_id>/acknowledge", "POST", acknowledge),
)


def create_app(dsn: str) -> Flask:
    """The dashboard over the database at `dsn` (one short connection per request)."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader(TEMPLATES)
    app.jinja_env.globals["fmt"] = svg.fmt
    app.config["GENOME_DSN"] = dsn
    for rule, method, view in ROUTES:
        app.add_url_rule(rule, view_func=view, methods=[method])
    return app


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from agents.settings import dashboard_url

    # Logged in as its own role, never the superuser (SET ROLE could be reset by a function).
    app = create_app(args.url or dashboard_url(args.dbname))
    print(f"Creative Genome dashboard on http://{args.host}:{args.port}/")
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)
    return 0


def add_cli(subparsers: Any) -> None:
    """Registers `genome dashboard` on the CLI's subparsers."""
    from agents.settings import DEFAULT_DBNAME

    p = subparsers.add_parser("dashboard", help="serve the web dashboard over the database")
    p.add_argument(
        "--url", help="database URL (default: GENOME_DASHBOARD_URL or local as genome_dashboard)"
    )
    p.add_argument("--dbname", default=DEFAULT_DBNAME)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=_cmd_dashboard)
