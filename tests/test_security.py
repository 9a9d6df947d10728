"""Roles and privileges: genome_owner owns the schema, genome_app gets the SQL API and its
organization's rows, genome_agent only the queue functions and the result writers; nobody
but a superuser creates PL/Python functions; the set-up is idempotent and covers tables
added later."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import psycopg
import pytest

from sim import factories as f
from tests.support.pipeline import CLEAN_SCAN, call, make_ads, make_product
from tests.support.security import run_agents_until_idle, session

AGENT_FUNCTIONS = {
    "claim_jobs", "heartbeat_job", "complete_job", "fail_job", "release_job", "reap_jobs",
    "job_context", "record_generation", "record_defect_scan", "record_review", "record_embedding",
    "review_exemplars", "record_embedding_from_lookup", "agent_has_work", "agent_lease_seconds",
}  # fmt: skip
PLPYTHON = (
    "CREATE FUNCTION genome.evil() RETURNS int LANGUAGE plpython3u AS $$\n"
    "import os\nreturn os.getpid()\n$$"
)


def test_roles_and_ownership(db: psycopg.Connection) -> None:
    roles = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb "
            "FROM pg_roles WHERE rolname LIKE 'genome\\_%'"
        ).fetchall()
    }
    # LOGIN (no password): pg_cron runs the scheduled jobs as genome_owner.
    assert roles["genome_owner"] == (False, True, True, False, False)
    assert roles["genome_app"] == (False, False, False, False, False)
    assert roles["genome_agent"] == (False, False, False, False, False)
    # The owner of the app's API functions: no login, no bypass, a member of genome_app
    # only, and nobody is a member of it.
    assert roles["genome_api"] == (False, False, False, False, False)
    assert db.execute(
        "SELECT array_agg(roleid::regrole::text) FROM pg_auth_members "
        "WHERE member = 'genome_api'::regrole"
    ).fetchone()[0] == ["genome_app"]
    assert (
        db.execute(
            "SELECT count(*) FROM pg_auth_members WHERE roleid = 'genome_api'::regrole"
        ).fetchone()[0]
        == 0
    )
    # genome_owner owns the schema and every table and function in it but the app's API
    # functions, which are genome_api's (SECURITY DEFINER).
    assert (
        db.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'genome'"
        ).fetchone()[0]
        == "genome_owner"
    )
    assert (
        db.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'genome'::regnamespace "
            "AND relkind IN ('r', 'p', 'v', 'm') AND relowner <> 'genome_owner'::regrole"
        ).fetchone()[0]
        == 0
    )
    owners = db.execute(
        "SELECT p.proowner::regrole::text, p.prosecdef, "
        "has_function_privilege('genome_app', p.oid, 'EXECUTE'), count(*) FROM pg_proc AS p "
        "WHERE p.pronamespace = 'genome'::regnamespace "
        "AND p.proname NOT IN ('current_organization', 'current_organizations', 'owner_session') "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    # genome_api owns exactly the definer functions the app executes; genome_owner the rest.
    assert {o[:3] for o in owners} == {
        ("genome_api", True, True),
        ("genome_owner", False, False),
        ("genome_owner", True, False),
    }
    # The tenant policies' functions are the owner's (current_organizations and owner_session
    # are definer: organizations without recursing into their policy, no `_` for the app),
    # executable by the app.
    for fn in ("current_organization()", "current_organizations()", "owner_session()"):
        assert db.execute(
            "SELECT proowner::regrole::text, has_function_privilege('genome_app', oid, 'EXECUTE') "
            "FROM pg_proc WHERE oid = %s::regprocedure",
            (f"genome.{fn}",),
        ).fetchone() == ("genome_owner", True)
    # The app and agent roles own nothing (an owner would bypass row-level security).
    assert (
        db.execute(
            "SELECT count(*) FROM pg_class WHERE relowner IN ('genome_app'::regrole, 'genome_agent'::regrole)"
        ).fetchone()[0]
        == 0
    )
    # Every tenant table has row-level security enabled, not forced (jobs run as owner).
    rls = db.execute(
        "SELECT t.table_name, c.relrowsecurity, c.relforcerowsecurity FROM genome.tenant_tables() AS t "
        "JOIN pg_class AS c ON c.oid = t.table_name::regclass"
    ).fetchall()
    assert rls and all(enabled and not forced for _, enabled, forced in rls)


def test_function_privileges(db: psycopg.Connection) -> None:
    # PUBLIC may execute no genome function.
    public_exec = db.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc AS p "
        "WHERE p.pronamespace = 'genome'::regnamespace "
        "AND has_function_privilege('public', p.oid, 'EXECUTE')"
    ).fetchall()
    assert public_exec == []
    # Every SECURITY DEFINER function has a fixed search_path; those the app may execute are
    # its API, owned by genome_api (row-level security binds them), never genome_owner's.
    definers = db.execute(
        "SELECT p.proname, p.proconfig, has_function_privilege('genome_app', p.oid, 'EXECUTE'), "
        "p.proowner::regrole::text "
        "FROM pg_proc AS p WHERE p.pronamespace = 'genome'::regnamespace AND p.prosecdef"
    ).fetchall()
    names = {d[0] for d in definers}
    assert names >= AGENT_FUNCTIONS | {"plan_ads", "select_elements", "record_override"}
    for name, config, app_exec, owner in definers:
        assert any(c.startswith("search_path=") for c in config or []), name
        if name not in ("current_organizations", "owner_session"):  # the policies' (owner's)
            assert app_exec == (owner == "genome_api"), name
        assert not name.startswith("_") or not app_exec, name
    # The agent executes exactly its entry points.
    agent = {
        r[0]
        for r in db.execute(
            "SELECT p.proname FROM pg_proc AS p WHERE p.pronamespace = 'genome'::regnamespace "
            "AND has_function_privilege('genome_agent', p.oid, 'EXECUTE')"
        ).fetchall()
    }
    assert agent == AGENT_FUNCTIONS
    # The app gets the SQL API but none of the scheduled cross-organization jobs.
    for fn, allowed in [
        ("plan_ads(uuid,integer,timestamptz,bigint,jsonb,text,jsonb)", True),
        ("record_ad_context(uuid,jsonb)", True),
        ("select_elements(uuid,uuid,timestamptz,bigint,jsonb)", True),
        ("record_override(uuid,text,text,jsonb,text,timestamptz)", True),
        ("run_job(text,timestamptz)", False),
        ("collect_rewards(timestamptz)", False),
        ("update_scores(timestamptz)", False),
        ("update_scores(timestamptz,boolean)", False),
        # A job's steps are the job's.
        ("_update_scores_combos(timestamptz,integer,uuid[])", False),
        ("_update_scores_evidence(timestamptz,uuid[])", False),
        ("_update_scores_brand_priors(timestamptz,integer,uuid[])", False),
        ("_collect_rewards_backfill_tags()", False),
        ("calibrate_all_quality(timestamptz)", False),
        ("claim_jobs(text[],text,interval,integer,timestamptz)", False),
        ("_apply_tenancy()", False),
    ]:
        assert (
            db.execute(
                "SELECT has_function_privilege('genome_app', %s::regprocedure, 'EXECUTE')",
                (f"genome.{fn}",),
            ).fetchone()[0]
            is allowed
        ), fn


def test_plpython_only_for_superuser(db: psycopg.Connection, db_dsn: str) -> None:
    for role in ("genome_app", "genome_agent", "genome_owner"):
        with session(db_dsn, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(PLPYTHON)
    assert (
        db.execute("SELECT lanpltrusted FROM pg_language WHERE lanname = 'plpython3u'").fetchone()[
            0
        ]
        is False
    )
    # The migrating superuser can (which is how db/functions installs them).
    db.execute(PLPYTHON)
    assert isinstance(db.execute("SELECT genome.evil()").fetchone()[0], int)
    db.execute("DROP FUNCTION genome.evil()")


def test_app_cannot_run_jobs_or_agent_functions(db: psycopg.Connection, db_dsn: str) -> None:
    org = f.org(db)
    with session(db_dsn, "genome_app", org) as app:
        for sql in [
            "SELECT genome.run_job('genome_collect')",
            "SELECT genome.update_scores()",
            "SELECT genome.collect_rewards()",
            "SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1)",
            "SELECT genome.reap_jobs()",
            f"SELECT genome.job_context('{uuid.uuid4()}', 'w')",
            "INSERT INTO genome.settings (key, value) VALUES ('x', '1')",
            "UPDATE genome.element_dimensions SET strategic_weight = 0",
            "SELECT * FROM genome.schema_migrations",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
        # It reads the global registry and settings.
        assert app.execute("SELECT count(*) FROM genome.element_dimensions").fetchone()[0] > 0


def test_agent_reads_no_brand_data(db: psycopg.Connection, db_dsn: str, tmp_path: Path) -> None:
    p = make_product(db)
    ads = make_ads(db, p["product"], 4)
    f.link(db, ads[0])
    f.perf(
        db, f"meta-{ads[0]}", dt.date(2025, 1, 1), impressions=100, clicks=3, brand_id=p["brand"]
    )
    tables = [r[0] for r in db.execute("SELECT table_name FROM genome.tenant_tables()").fetchall()]
    with session(db_dsn, "genome_agent") as agent:

        def reads_none() -> None:
            for t in tables:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    agent.execute(f"SELECT * FROM {t}")

        reads_none()
        for fn in [
            f"SELECT genome.plan_ads('{uuid.uuid4()}', 1)",
            f"SELECT genome.select_elements('{p['brand']}', NULL)",
            "SELECT genome.update_scores()",
            f"SELECT genome.record_override('{ads[0]}', 'approved', 'x', '{{}}', 'me')",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                agent.execute(fn)
        # Its own functions work, and the writers check the lease: another worker's job is refused.
        job = agent.execute(
            "SELECT id, lease_token FROM genome.claim_jobs(ARRAY['generate'], 'w1', '1 minute', 1)"
        ).fetchone()
        assert job is not None
        reads_none()  # holding a job gives no table access either: only its functions
        with pytest.raises(psycopg.Error, match="not leased by") as err:
            agent.execute(
                "SELECT genome.record_generation(%s, 'w2', '/tmp/x.png', 'p', %s)",
                (job[0], json.dumps(call("generate", "google"))),
            )
        assert err.value.sqlstate == "GN404"
        agent.execute(
            "SELECT genome.record_generation(%s, 'w1', %s, 'p', %s, p_lease_token => %s)",
            (
                job[0],
                f"{p['organization']}/x.png",
                json.dumps(call("generate", "google")),
                job[1],
            ),
        )
        scan = agent.execute(
            "SELECT id, lease_token FROM genome.claim_jobs(ARRAY['defect_scan'], 'w1', '1 minute', 1)"
        ).fetchone()
        agent.execute(
            "SELECT genome.record_defect_scan(%s, 'w1', %s, %s, p_lease_token => %s)",
            (
                scan[0],
                json.dumps(CLEAN_SCAN),
                json.dumps(call("defect_scan", "google")),
                scan[1],
            ),
        )
    # The whole pipeline runs as genome_agent.
    run_agents_until_idle(db_dsn, tmp_path / "img")
    statuses = dict(
        db.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
    )
    assert sum(statuses.values()) == 4 and "pending" not in statuses


def test_agent_can_select_from_no_table_or_view(db: psycopg.Connection, db_dsn: str) -> None:
    """Every table, view and materialized view of schemas genome and public refuses the
    agent role: it reads only through its definer functions."""
    relations = [
        r[0]
        for r in db.execute(
            "SELECT c.oid::regclass::text FROM pg_class AS c "
            "WHERE c.relnamespace IN ('genome'::regnamespace, 'public'::regnamespace) "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1"
        )
    ]
    assert "genome.settings" in relations and "genome.agent_jobs" in relations
    with session(db_dsn, "genome_agent") as agent:
        for relation in relations:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                agent.execute(f"SELECT 1 FROM {relation} LIMIT 1")
        # What it used to read the tables for comes through its definer functions.
        assert agent.execute("SELECT genome.agent_has_work(ARRAY['noop'])").fetchone()[0] is False
        db.execute("SELECT genome.enqueue_job('noop', NULL)")
        assert agent.execute("SELECT genome.agent_has_work(ARRAY['noop'])").fetchone()[0] is True
        assert agent.execute("SELECT genome.agent_has_work(ARRAY['embed'])").fetchone()[0] is False
        lease = db.execute("SELECT genome._setting_num('job_lease_seconds')").fetchone()[0]
        assert agent.execute("SELECT genome.agent_lease_seconds()").fetchone()[0] == lease


def test_apply_tenancy_is_idempotent_and_covers_new_tables(
    db: psycopg.Connection, db_dsn: str
) -> None:
    again = db.execute("SELECT genome._apply_tenancy()").fetchone()[0]
    assert again["roles_created"] == [] and again["policies_changed"] == 0
    db.execute(
        "CREATE TABLE genome.later_table (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        "brand_id uuid NOT NULL REFERENCES brands (id), note text)"
    )
    # An API function added without SECURITY DEFINER or a search_path is made so, as
    # genome_api's (never left to run as the app, nor as genome_owner).
    db.execute(
        "CREATE FUNCTION genome.later_api() RETURNS bigint LANGUAGE sql STABLE "
        "AS 'SELECT count(*) FROM public.brands'"
    )
    out = db.execute("SELECT genome._apply_tenancy()").fetchone()[0]
    assert out["policies_changed"] == 1 and out["made_definer"] == 1
    assert db.execute(
        "SELECT prosecdef, proconfig, proowner::regrole::text, "
        "has_function_privilege('genome_app', oid, 'EXECUTE') FROM pg_proc "
        "WHERE oid = 'genome.later_api()'::regprocedure"
    ).fetchone() == (True, ["search_path=genome, public, pg_temp"], "genome_api", True)
    a, b = f.brand(db, name="A"), f.brand(db, name="B")
    db.execute(
        "INSERT INTO genome.later_table (brand_id, note) VALUES (%s, 'a'), (%s, 'b')", (a, b)
    )
    org_a = db.execute("SELECT organization_id FROM brands WHERE id = %s", (a,)).fetchone()[0]
    with session(db_dsn, "genome_app", org_a) as app:
        assert app.execute("SELECT note FROM genome.later_table").fetchall() == [("a",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("INSERT INTO genome.later_table (brand_id) VALUES (%s)", (b,))
        # ... and it counts only the organization's brands
        assert app.execute("SELECT genome.later_api()").fetchone()[0] == 1
