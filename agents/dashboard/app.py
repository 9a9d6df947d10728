"""The dashboard web app.

Flask + Jinja, server-rendered, with matplotlib's SVG charts inline (charts.py). Flask was
chosen over Streamlit because it is a small, long-maintained WSGI framework (Pallets) that
installs from PyPI as pure-Python wheels, needs no Node build and no websocket runtime,
renders plain HTML forms (so the override and acknowledge buttons are ordinary POSTs a
browser test can click), and leaves every computation to the genome SQL API.

Every page needs a login (agents/dashboard/auth.py); every form carries a Flask-WTF CSRF
token; each request's database work is one transaction as genome_app for the logged-in
user's organization (db.tenant), so another organization's ads are invisible, also when
their URLs are typed (docs/security.md#dashboard-logins)."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from flask import Flask, abort, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFProtect
from jinja2 import DictLoader
from markupsafe import Markup
from PIL import Image
from werkzeug.wrappers import Response

from agents import storage
from agents.dashboard import auth, charts, db
from agents.dashboard.auth import requires
from agents.dashboard.templates import TEMPLATES

T = TypeVar("T")


class _Request:
    """The open transaction of one request: its connection, its time and its errors."""

    def __init__(self, conn: psycopg.Connection[db.Row], now: dt.datetime) -> None:
        self.conn = conn
        self.now = now
        self.errors: list[str] = []

    def attempt(self, what: str, fn: Callable[[], T], default: T) -> T:
        """Run one query in a savepoint; a database error becomes a message on the page (and
        undoes only that query), not a 500."""
        try:
            with self.conn.transaction():
                return fn()
        except psycopg.Error as exc:
            code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
            self.errors.append(f"{what}: {str(exc).splitlines()[0]}{code}")
            return default

    def page(self, template: str, **ctx: Any) -> str:
        return render_template(
            template, now=self.now, errors=self.errors, msg=request.args.get("msg"), **ctx
        )

    def brand_or_404(self, raw: str) -> db.Row:
        b = db.brand(self.conn, _uuid(raw))
        if b is None:
            abort(404)
        return b


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        abort(404)


@contextmanager
def _request() -> Iterator[_Request]:
    """The request's transaction as genome_app for the logged-in user's organization."""
    override = request.args.get("now")
    if override:
        try:
            dt.datetime.fromisoformat(override)
        except ValueError:
            abort(400, "now= must be an ISO timestamp")
    dsn = current_app.config["GENOME_DSN"]
    with db.tenant(dsn, auth.user().organization_id, override) as (conn, now):
        yield _Request(conn, now)


def _done(endpoint: str, req: _Request, ok: str, **values: Any) -> Response:
    """After an action: back to `endpoint` with its message (the error if it failed)."""
    return redirect(url_for(endpoint, msg=req.errors[0] if req.errors else ok, **values))


# --- pages (each view's name is its endpoint for url_for) ------------------------------


@requires("viewer")
def index() -> str:
    with _request() as req:
        return req.page("index.html", brands=db.brands(req.conn), brand=None)


@requires("viewer")
def scores(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        rows = req.attempt("scores", lambda: db.scores(req.conn, b["id"]), [])
        dims: dict[str, list[db.Row]] = {}
        for r in rows:
            dims.setdefault(r["dimension"], []).append(r)
        dimensions = [
            (
                d,
                rs,
                Markup(
                    charts.interval_plot(
                        [
                            charts.Interval(r["value"], r["mean"], r["ci_lower"], r["ci_upper"])
                            for r in rs
                        ]
                    )
                ),
            )
            for d, rs in dims.items()
        ]
        return req.page("scores.html", brand=b, dimensions=dimensions)


@requires("viewer")
def attribution(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        dims = db.dimensions(req.conn)
        dimension = request.args.get("dimension") or (dims[0] if dims else "")
        if dimension not in dims:
            abort(404)
        rows = req.attempt(
            "attribution",
            lambda: db.attribution(req.conn, b["id"], dimension, req.now),
            [],
        )
        chart = charts.interval_plot(
            [
                charts.Interval(r["value"], r["mh_odds_ratio"], r["mh_ci_lower"], r["mh_ci_upper"])
                for r in rows
                if r["mh_odds_ratio"] is not None
            ],
            ref=1.0,
            lo=0.0,
            hi=max(
                [2.0] + [min(r["mh_ci_upper"] or 0.0, 10.0) for r in rows if r["mh_odds_ratio"]]
            ),
        )
        scores = [
            r
            for r in req.attempt("scores", lambda: db.scores(req.conn, b["id"]), [])
            if r["dimension"] == dimension
        ]
        return req.page(
            "attribution.html",
            scores=scores,
            brand=b,
            dims=dims,
            dimension=dimension,
            rows=rows,
            chart=Markup(chart),
        )


@requires("viewer")
def causal(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        effects = req.attempt("causal effects", lambda: db.causal_effects(req.conn, b["id"]), [])
        pairs = req.attempt("interactions", lambda: db.interactions(req.conn, b["id"], req.now), [])
        graph = charts.causal_graph(
            [
                charts.Edge(
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
                charts.Edge(
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
        return req.page("causal.html", brand=b, effects=effects, pairs=pairs, graph=Markup(graph))


def _experiments_page(req: _Request, b: db.Row, form: dict[str, str]) -> str:
    rows = req.attempt("experiments", lambda: db.experiments(req.conn, b["id"]), [])
    plots = []
    for e in rows:
        series: dict[str, list[tuple[str, float]]] = {}
        for day in e["history"]:
            for arm in day["arms"] or []:
                if arm.get("prob_best") is None:
                    continue
                name = f"{arm.get('arm_name', arm.get('arm_index'))}: {arm.get('value', '')}"
                series.setdefault(name, []).append((day["date"], float(arm["prob_best"])))
        plots.append((e, Markup(charts.line_chart(series)) if series else None))
    return req.page(
        "experiments.html",
        brand=b,
        experiments=plots,
        products=db.products(req.conn, b["id"]),
        dims=db.dimensions(req.conn),
        form=form,
    )


@requires("viewer")
def experiments(brand_id: str) -> str:
    with _request() as req:
        return _experiments_page(req, req.brand_or_404(brand_id), {})


@requires("reviewer")
def propose(brand_id: str) -> str | Response:
    """Propose an experiment; the budget gate's refusal (GN608) is shown as it is, with the
    form kept."""
    with _request() as req:
        b = req.brand_or_404(brand_id)
        f = {k: request.form.get(k, "").strip() for k in request.form}
        try:
            budget, days = float(f.get("budget", "")), int(f.get("max_days", ""))
        except ValueError:
            req.errors.append("propose: budget per arm and days must be numbers")
            return _experiments_page(req, b, f)
        treatments = [t.strip() for t in f.get("treatments", "").split(",") if t.strip()]
        new = req.attempt(
            "propose",
            lambda: db.propose_experiment(
                req.conn,
                b["id"],
                _uuid(f.get("product_id", "")),
                f.get("variable", ""),
                f.get("control", ""),
                treatments,
                f.get("hypothesis", ""),
                budget,
                days,
                req.now,
            ),
            None,
        )
        if new is None:
            return _experiments_page(req, b, f)
        return _done("experiments", req, f"Proposed experiment {new}", brand_id=b["id"])


@requires("viewer")
def v1v2(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        rows = req.attempt("V1 vs V2", lambda: db.v1_v2(req.conn, b["id"], req.now), [])
        by_metric: dict[str, list[charts.Interval]] = {}
        for r in rows:
            if r["value"] is not None:
                by_metric.setdefault(r["metric"], []).append(
                    charts.Interval(r["cohort"], r["value"], r["ci_lower"], r["ci_upper"])
                )
        plots = []
        for metric, items in by_metric.items():
            vals = [v for i in items for v in (i.mean, i.lower, i.upper) if v is not None]
            lo, hi = min([*vals, 0.0]), max([*vals, 0.0])
            pad = (hi - lo) * 0.05 or 0.01
            plots.append((metric, Markup(charts.interval_plot(items, lo=lo - pad, hi=hi + pad))))
        return req.page("v1v2.html", brand=b, rows=rows, charts=plots)


@requires("viewer")
def fatigue(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        ads = req.attempt("fatigue", lambda: db.fatigue(req.conn, b["id"]), [])
        forecast = req.attempt("forecast", lambda: db.fatigue_forecast(req.conn, b["id"]), [])
        return req.page("fatigue.html", brand=b, ads=ads, forecast=forecast)


@requires("viewer")
def whitespace(brand_id: str) -> str:
    with _request() as req:
        b = req.brand_or_404(brand_id)
        rows = req.attempt("whitespace", lambda: db.whitespace(req.conn, b["id"], req.now), [])
        return req.page("whitespace.html", brand=b, rows=rows)


@requires("viewer")
def review() -> str:
    with _request() as req:
        ads = req.attempt("review queue", lambda: db.review_queue(req.conn), [])
        return req.page("review.html", ads=ads, checks=db.review_checks(req.conn), brand=None)


@requires("viewer")
def image(ad_id: str) -> Response:
    """An ad's image from the storage backend (?thumb=1: at most 240 px wide), only for an ad
    of the user's organization and only under that organization's storage prefix."""
    with _request() as req:
        key = db.image_key(req.conn, _uuid(ad_id))
    if key is None:
        abort(404)
    try:
        store: storage.Store = current_app.config["GENOME_STORE"]
        data = store.read(key, auth.user().organization_id)
    except storage.ImageUnavailable:
        abort(404)
    if request.args.get("thumb"):
        with Image.open(io.BytesIO(data)) as im:
            im.thumbnail((240, 240))
            out = io.BytesIO()
            im.convert("RGB").save(out, "PNG")
            data = out.getvalue()
    resp = Response(data, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@requires("reviewer")
def override(ad_id: str) -> Response:
    status = request.form.get("status", "")
    who = auth.user().username
    reason = request.form.get("reason") or f"dashboard: {status}"
    with _request() as req:
        req.attempt(
            "override",
            lambda: db.record_override(req.conn, _uuid(ad_id), status, reason, who),
            None,
        )
        return _done("review", req, f"Recorded: ad {ad_id} {status} by {who}")


@requires("viewer")
def calibration() -> str:
    with _request() as req:
        configs = req.attempt("configs", lambda: db.quality_configs(req.conn), [])
        return req.page("calibration.html", configs=configs, brand=None)


@requires("admin")
def approve_config(config_id: str) -> Response:
    who = auth.user().username
    with _request() as req:
        req.attempt(
            "approve",
            lambda: db.activate_quality_config(req.conn, _uuid(config_id), who, req.now),
            None,
        )
        return _done("calibration", req, f"Activated config {config_id} (approved by {who})")


@requires("viewer")
def exemplars() -> str:
    with _request() as req:
        rows = req.attempt("exemplars", lambda: db.exemplars(req.conn), [])
        candidates = req.attempt("candidates", lambda: db.exemplar_candidates(req.conn), [])
        return req.page("exemplars.html", exemplars=rows, candidates=candidates, brand=None)


@requires("reviewer")
def add_exemplar() -> Response:
    ad = _uuid(request.form.get("ad_id", ""))
    kind = request.form.get("exemplar_type", "")
    notes = request.form.get("notes", "").strip() or f"added by {auth.user().username}"
    with _request() as req:
        new = req.attempt(
            "add exemplar", lambda: db.add_exemplar(req.conn, ad, kind, notes, req.now), None
        )
        return _done("exemplars", req, f"Added exemplar {new} ({kind})")


@requires("reviewer")
def retire_exemplar(exemplar_id: str) -> Response:
    with _request() as req:
        req.attempt("retire", lambda: db.retire_exemplar(req.conn, _uuid(exemplar_id)), None)
        return _done("exemplars", req, f"Retired exemplar {exemplar_id}")


@requires("viewer")
def costs() -> str:
    with _request() as req:
        by_brand = req.attempt("costs", lambda: db.costs_by_brand(req.conn), [])
        by_ad = req.attempt("costs per ad", lambda: db.costs_by_ad(req.conn), [])
        return req.page("costs.html", by_brand=by_brand, by_ad=by_ad, brand=None)


@requires("viewer")
def alerts() -> str:
    with _request() as req:
        rows = req.attempt("alerts", lambda: db.alerts(req.conn), [])
        return req.page("alerts.html", alerts=rows, brand=None)


@requires("reviewer")
def acknowledge(alert_id: str) -> Response:
    who = auth.user().username
    with _request() as req:
        req.attempt("acknowledge", lambda: db.acknowledge(req.conn, _uuid(alert_id), who), None)
        return _done("alerts", req, f"Acknowledged alert {alert_id} ({who})")


# The dashboard's pages and actions: (rule, method, view).
ROUTES: tuple[tuple[str, str, Callable[..., str | Response]], ...] = (
    ("/", "GET", index),
    ("/brand/<brand_id>/scores", "GET", scores),
    ("/brand/<brand_id>/attribution", "GET", attribution),
    ("/brand/<brand_id>/causal", "GET", causal),
    ("/brand/<brand_id>/experiments", "GET", experiments),
    ("/brand/<brand_id>/experiments", "POST", propose),
    ("/brand/<brand_id>/v1v2", "GET", v1v2),
    ("/brand/<brand_id>/fatigue", "GET", fatigue),
    ("/brand/<brand_id>/whitespace", "GET", whitespace),
    ("/review", "GET", review),
    ("/review/<ad_id>", "POST", override),
    ("/ad/<ad_id>/image", "GET", image),
    ("/calibration", "GET", calibration),
    ("/calibration/<config_id>/approve", "POST", approve_config),
    ("/exemplars", "GET", exemplars),
    ("/exemplars", "POST", add_exemplar),
    ("/exemplars/<exemplar_id>/retire", "POST", retire_exemplar),
    ("/costs", "GET", costs),
    ("/alerts", "GET", alerts),
    ("/alerts/<alert_id>/acknowledge", "POST", acknowledge),
)


def create_app(
    dsn: str,
    *,
    secret_key: str | None = None,
    secure_cookies: bool = True,
    trusted_header: str | None = None,
    storage_dir: str | None = None,
) -> Flask:
    """The dashboard over the database at `dsn` (logged in as genome_dashboard; one short
    connection per request). `secret_key` signs the session cookies (default
    GENOME_DASHBOARD_SECRET_KEY, else a random key: sessions then end with the process);
    `secure_cookies` sends them over HTTPS only; `trusted_header` names the header of a
    trusted single-sign-on proxy (auth.init_app)."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader(TEMPLATES)
    app.jinja_env.globals["fmt"] = charts.fmt
    app.config.update(
        GENOME_DSN=dsn,
        # the image store: the directory storage_dir, else GENOME_STORAGE_URL (agents/storage.py)
        GENOME_STORE=storage.Store.directory(storage_dir) if storage_dir else storage.open_store(),
        SECRET_KEY=secret_key
        or os.environ.get("GENOME_DASHBOARD_SECRET_KEY")
        or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
    )
    CSRFProtect(app)
    auth.init_app(app, trusted_header)
    for rule, method, view in ROUTES:
        app.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    return app


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import waitress

    from agents.settings import dashboard_url

    # Logged in as its own role, never the superuser (SET ROLE could be reset by a function).
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    secure = args.secure_cookies if args.secure_cookies is not None else not loopback
    if not os.environ.get("GENOME_DASHBOARD_SECRET_KEY"):
        print(
            "genome dashboard: GENOME_DASHBOARD_SECRET_KEY is not set; sessions end when "
            "this process stops",
            file=sys.stderr,
        )
    app = create_app(
        args.url or dashboard_url(args.dbname),
        secure_cookies=secure,
        trusted_header=args.trusted_user_header,
    )
    print(f"Creative Genome dashboard on http://{args.host}:{args.port}/ (waitress)")
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads)
    return 0
