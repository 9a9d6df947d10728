"""Helpers for the security, tenancy, fault and bad-input tests (no tests of its own):
sessions as the genome roles, in-process agents running as genome_agent, a two-organization
data set built by the real pipeline, and a checksum of every table."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from agents.runtime import run_agents
from sim import factories as f
from tests.support.pipeline import double_providers

DAY0 = dt.date(2025, 3, 3)


def role_dsn(dsn: str, role: str) -> str:
    """The same database, with the session running as `role` (SET ROLE at connection start:
    the test superuser is a member of every role)."""
    params = conninfo_to_dict(dsn)
    params["options"] = f"-c role={role}"
    return make_conninfo(**params)


def login_dsn(dsn: str, user: str) -> str:
    """The same database, logged in as `user` itself (its role settings apply, and no
    function can RESET ROLE back to the superuser)."""
    params = conninfo_to_dict(dsn)
    params["user"] = user
    return make_conninfo(**params)


@contextmanager
def session(
    dsn: str, role: str, org: uuid.UUID | str | None = None
) -> Iterator[psycopg.Connection]:
    """An autocommit connection as `role`, with app.organization_id set when org is given."""
    conn = psycopg.connect(role_dsn(dsn, role), autocommit=True)
    try:
        if org is not None:
            conn.execute("SELECT set_config('app.organization_id', %s, false)", (str(org),))
        yield conn
    finally:
        conn.close()


def run_agents_until_idle(
    dsn: str,
    storage: Path | None,
    *,
    mode: str = "ok",
    timeout: float = 90,
    role: str = "genome_agent",
    providers: Any = None,
    kinds: list[str] | None = None,
) -> None:
    """Run the real agent runtime in a thread (test-double providers) as `role` for `kinds`
    (all when None) until no job is left; storage: the local store directory, or None to
    keep the store the environment names."""
    import os

    if storage is not None:
        os.environ["GENOME_STORAGE_DIR"] = str(storage)
    done = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_agents(
                role_dsn(dsn, role),
                kinds,
                3,
                "offline",
                stop=stop,
                idle_exit=1.0,
                providers=providers if providers is not None else double_providers(mode),
                lease_seconds=30,
                poll_interval=0.2,
                probe_interval=1.0,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    finished = done.wait(timeout)
    stop.set()
    t.join(10)
    assert not errors, f"agents failed: {errors[0]!r}"
    assert finished, f"agents did not finish within {timeout} s"


@dataclass
class Tenant:
    name: str
    organization: uuid.UUID
    brand: uuid.UUID
    product: uuid.UUID
    run: uuid.UUID
    ads: list[uuid.UUID] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def _tenant(db: psycopg.Connection, name: str) -> Tenant:
    org = f.org(db, f"Org {name}")
    brand = f.brand(db, org, category="skincare", sharing=True, name=f"Brand {name}")
    product = f.product(db, brand, f"Serum {name}")
    run = f.ad_run(db, product, max_attempts=40)
    return Tenant(name, org, brand, product, run)


def build_two_orgs(db: psycopg.Connection, dsn: str, storage: Path) -> dict[str, Tenant]:
    """Two organizations, each with one brand (category skincare, sharing on), run through a
    short piece of the real pipeline: plan_ads as the app, the agents (as genome_agent) on
    every job, Meta mapping and 14 days of insights, an override, an exemplar, an
    experiment proposal, then every scheduled job through run_job."""
    tenants = {"A": _tenant(db, "A"), "B": _tenant(db, "B")}
    now = f.at(DAY0)
    for t in tenants.values():
        with session(dsn, "genome_app", t.organization) as app:
            app.execute(
                "SELECT genome.start_generation_experiment(%s, 'prompts', 'prompt_version', "
                "%s, %s, 4, %s)",
                (
                    t.brand,
                    Jsonb({"prompt_template_version": "v2.0"}),
                    Jsonb({"prompt_template_version": "v2.1"}),
                    now - dt.timedelta(hours=1),
                ),
            )
    for t in tenants.values():
        with session(dsn, "genome_app", t.organization) as app:
            t.ads = [
                r[0]
                for r in app.execute(
                    "SELECT * FROM genome.plan_ads(%s, 10, %s, 7)", (t.run, now)
                ).fetchall()
            ]
    run_agents_until_idle(dsn, storage)
    for t in tenants.values():
        db.execute(
            "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, name, objective, "
            "brand_id) VALUES ('acct', %s, 'campaign', 'OUTCOME_SALES', %s)",
            (f"camp-{t.name}", t.brand),
        )
        db.execute(
            "INSERT INTO product_template_usage (product_id, template_storage_name, ad_run_id) "
            "VALUES (%s, 'tpl.png', %s)",
            (t.product, t.run),
        )
        db.execute(
            "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level, "
            "creative_format, sample_size, median_ctr) VALUES (%s, %s, 'all', 'image', 10, 0.01)",
            (t.organization, t.brand),
        )
        db.execute(
            "INSERT INTO scheduled_jobs (brand_id, product_id, name, job_type) "
            "VALUES (%s, %s, 'genome', 'creative_genome_update')",
            (t.brand, t.product),
        )
        for i, ad in enumerate(t.ads):
            meta = f.link(db, ad, f"meta-{t.name}-{i}", campaign=f"camp-{t.name}")
            for d in range(14):
                f.perf(
                    db,
                    meta,
                    DAY0 + dt.timedelta(days=1 + d),
                    impressions=400 + 40 * i,
                    clicks=4 + (i * d) % 9,
                    purchases=(i + d) % 3,
                    value=25.0 * ((i + d) % 3),
                    brand_id=t.brand,
                    campaign=f"camp-{t.name}",
                )
        approved = db.execute(
            "SELECT id FROM generated_ads WHERE ad_run_id = %s AND final_status = 'approved' "
            "ORDER BY prompt_index",
            (t.run,),
        ).fetchall()
        with session(dsn, "genome_app", t.organization) as app:
            if approved:
                app.execute(
                    "SELECT genome.record_override(%s, 'rejected', 'off brand', %s, 'qa', %s)",
                    (approved[0][0], Jsonb({"C2": 2}), now + dt.timedelta(hours=2)),
                )
                app.execute(
                    "SELECT genome.add_exemplar(%s, 'gold_approve', 'clean layout', %s)",
                    (approved[-1][0], now + dt.timedelta(hours=3)),
                )
            app.execute(
                "SELECT genome.propose_experiment(%s, %s, 'hook_type', 'urgency', "
                "ARRAY['social_proof'], 'social proof beats urgency', 50, 14, 'link_ctr', 0.2, "
                "%s, true)",
                (t.brand, t.product, now + dt.timedelta(hours=4)),
            )
    later = f.at(DAY0 + dt.timedelta(days=20), 13)
    for (name,) in db.execute("SELECT job_name FROM genome.job_schedules ORDER BY 1").fetchall():
        db.execute("SELECT genome.run_job(%s, %s)", (name, later))
    for t in tenants.values():
        t.ids = tenant_ids(db, t)
    return tenants


def tenant_ids(db: psycopg.Connection, t: Tenant) -> set[str]:
    """Every id (as text) of the entities one organization owns, found by explicit joins."""
    rows = db.execute(
        """
        WITH b AS (SELECT id FROM brands WHERE organization_id = %(org)s),
        p AS (SELECT id FROM products WHERE brand_id IN (SELECT id FROM b)),
        r AS (SELECT id FROM ad_runs WHERE product_id IN (SELECT id FROM p)),
        g AS (SELECT id FROM generated_ads WHERE ad_run_id IN (SELECT id FROM r)),
        j AS (SELECT id FROM genome.agent_jobs WHERE generated_ad_id IN (SELECT id FROM g))
        SELECT %(org)s::uuid
        UNION SELECT id FROM b UNION SELECT id FROM p UNION SELECT id FROM r
        UNION SELECT id FROM g UNION SELECT id FROM j
        UNION SELECT id FROM genome.experiments WHERE organization_id = %(org)s
        UNION SELECT id FROM genome.generation_experiments WHERE organization_id = %(org)s
        UNION SELECT id FROM genome.quality_scoring_config WHERE organization_id = %(org)s
        """,
        {"org": t.organization},
    ).fetchall()
    return {str(r[0]) for r in rows}


def tenant_tables(db: psycopg.Connection) -> list[dict[str, Any]]:
    """genome.tenant_tables(): name, tenant columns, policy expression."""
    return (
        db.cursor(row_factory=dict_row)
        .execute("SELECT * FROM genome.tenant_tables() ORDER BY table_name")
        .fetchall()
    )


def table_checksums(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row's text in a stable order) of every table of schemas
    public and genome, read by the connection's role (use the superuser for all rows)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'genome') AND c.relkind IN ('r', 'p') ORDER BY 1"
        ).fetchall()
    ]
    out: dict[str, tuple[int, str]] = {}
    for name in names:
        row = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
            f"FROM {name} AS t"
        ).fetchone()
        assert row is not None
        out[name] = (int(row[0]), str(row[1]))
    return out
