"""Attacks on the security model, each performed as the attacker's role, failing if the attack
works again (docs/attacks.md lists what was tried, by which role, and what stops it)."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from agents.settings import DASHBOARD_ROLE
from tests import factories as f
from tests.test_security_support import login_dsn, session

# --- Privileges and per-role limits: internal helpers, statement timeouts, the dashboard ---

# Two arms in one group: one call of each helper, cheap unless its size is refused.
BETA_SUMMARIES = (
    "SELECT * FROM genome._beta_summaries(ARRAY[1, 1], ARRAY[2.0, 3.0]::float8[],"
    " ARRAY[3.0, 2.0]::float8[], %s, 1)"
)
EXPERIMENT_POSTERIORS = (
    "SELECT * FROM genome._experiment_posteriors(ARRAY[1, 1], ARRAY[true, false],"
    " ARRAY[5.0, 6.0]::float8[], ARRAY[50.0, 50.0]::float8[], ARRAY[1.0, 1.0]::float8[],"
    " ARRAY[1.0, 1.0]::float8[], ARRAY[100.0, 100.0]::float8[], ARRAY[0.5, 0.5]::float8[], %s, 1)"
)
GENOME_CALL = re.compile(r"genome\.([a-z_][a-z0-9_]*)\s*\(")


def _set(db: psycopg.Connection, key: str, value: str) -> None:
    db.execute("UPDATE genome.settings SET value = %s::jsonb WHERE key = %s", (value, key))


def _helpers(db: psycopg.Connection) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT p.proname::text, p.oid::regprocedure::text FROM pg_proc AS p"
        " WHERE p.pronamespace = 'genome'::regnamespace AND p.proname LIKE '\\_%'"
        " ORDER BY 2"
    ).fetchall()


def test_agent_executes_no_internal_helper(db: psycopg.Connection) -> None:
    executable = [
        sig
        for _name, sig in _helpers(db)
        if db.execute(
            "SELECT has_function_privilege('genome_agent', %s, 'EXECUTE')", (sig,)
        ).fetchone()[0]
    ]
    assert executable == []


def test_app_executes_only_the_helpers_its_api_calls(db: psycopg.Connection) -> None:
    """Every `_` helper the app may execute is called by a function the app may execute (an
    invoker function needs EXECUTE on what it calls); none other is."""
    bodies = db.execute(
        "SELECT p.proname::text, p.prosrc FROM pg_proc AS p"
        " WHERE p.pronamespace = 'genome'::regnamespace"
        " AND has_function_privilege('genome_app', p.oid, 'EXECUTE')"
    ).fetchall()
    called = {name for _fn, src in bodies for name in GENOME_CALL.findall(src)}
    executable = {
        name
        for name, sig in _helpers(db)
        if db.execute(
            "SELECT has_function_privilege('genome_app', %s, 'EXECUTE')", (sig,)
        ).fetchone()[0]
    }
    assert executable - called == set()
    # The scheduled jobs' numeric cores are among those the app cannot run.
    assert {"_beta_summaries", "_experiment_posteriors", "_mann_whitney_u"}.isdisjoint(executable)


def test_app_cannot_call_the_jobs_numeric_helpers(db: psycopg.Connection, db_dsn: str) -> None:
    org = f.org(db, "Org helpers")
    with session(db_dsn, "genome_app", org) as app:
        for sql in (BETA_SUMMARIES, EXPERIMENT_POSTERIORS):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql, (1000,))


def test_helper_input_sizes_are_bounded(db: psycopg.Connection, db_dsn: str) -> None:
    """The helpers refuse inputs beyond the settings (GN031), whoever calls them: a huge draw
    count from the jobs' side, too many rows from the app's."""
    for sql in (BETA_SUMMARIES, EXPERIMENT_POSTERIORS):
        with pytest.raises(psycopg.Error) as refused:
            db.execute(sql, (50_000_000,))
        assert refused.value.sqlstate == "GN031"
        assert "helper_max_samples" in str(refused.value)
    _set(db, "helper_max_rows", "10")
    org = f.org(db, "Org sizes")
    with session(db_dsn, "genome_app", org) as app:
        for sql in (
            "SELECT genome._dbscan_cosine(array_fill(1.0::real, ARRAY[11, 2]), 0.1, 2)",
            "SELECT * FROM genome._beta_value_of_information(array_fill(2.0::float8, ARRAY[11]),"
            " array_fill(2.0::float8, ARRAY[11]), array_fill(0.5::float8, ARRAY[11]), 0.95)",
        ):
            with pytest.raises(psycopg.Error) as refused:
                app.execute(sql)
            assert refused.value.sqlstate == "GN031"
        # Within the bound the helper still answers.
        labels = app.execute(
            "SELECT genome._dbscan_cosine(array_fill(1.0::real, ARRAY[10, 2]), 0.1, 2)"
        ).fetchone()[0]
        assert labels == [0] * 10


def test_app_and_agent_login_roles_get_a_statement_timeout(db: psycopg.Connection) -> None:
    """Role settings apply to the role a session logs in as: genome_app, genome_agent and
    their login members get the timeout at every migrate; genome_owner (the jobs) none."""
    login = f"attack_app_{uuid.uuid4().hex[:8]}"
    db.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE genome_app')
    try:
        db.execute("SELECT genome._apply_tenancy()")
        timeouts = dict(
            db.execute(
                "SELECT r.rolname::text, coalesce(("
                "  SELECT c FROM pg_db_role_setting AS s, unnest(s.setconfig) AS c"
                "  WHERE s.setrole = r.oid AND s.setdatabase = 0"
                "    AND c LIKE 'statement\\_timeout=%%'), '')"
                " FROM pg_roles AS r WHERE r.rolname = ANY (%s)",
                (["genome_app", "genome_agent", "genome_owner", login],),
            ).fetchall()
        )
        assert timeouts == {
            "genome_app": "statement_timeout=30000",
            "genome_agent": "statement_timeout=30000",
            login: "statement_timeout=30000",
            "genome_owner": "",
        }
    finally:
        db.execute(f'DROP ROLE "{login}"')


def test_dashboard_session_has_its_statement_timeout(db: psycopg.Connection, db_dsn: str) -> None:
    _set(db, "dashboard_statement_timeout_seconds", "1")
    db.execute("SELECT genome._apply_tenancy()")
    try:
        with psycopg.connect(login_dsn(db_dsn, DASHBOARD_ROLE), autocommit=True) as dash:
            assert dash.execute("SHOW statement_timeout").fetchone()[0] == "1s"
            with pytest.raises(psycopg.errors.QueryCanceled):
                dash.execute("SELECT pg_sleep(3)")
    finally:
        # Roles are cluster-wide: put the default back for the other tests.
        _set(db, "dashboard_statement_timeout_seconds", "30")
        db.execute("SELECT genome._apply_tenancy()")


def test_dashboard_logs_in_as_a_role_that_owns_nothing(db: psycopg.Connection, db_dsn: str) -> None:
    """A table owner's trap (a view over a function that makes genome_owner a superuser when a
    superuser reads it) does nothing when the dashboard reads it: the dashboard is logged in as
    genome_dashboard, owns nothing, and cannot RESET ROLE to anything more."""
    db.execute("SET ROLE genome_owner")
    db.execute(
        """
        CREATE FUNCTION genome.trap() RETURNS integer LANGUAGE plpgsql AS $$
        BEGIN
            RESET ROLE;
            ALTER ROLE genome_owner SUPERUSER;
            RETURN 1;
        END $$;
        CREATE VIEW genome.trap_view AS SELECT genome.trap() AS sprung;
        GRANT SELECT ON genome.trap_view TO genome_dashboard;
        GRANT EXECUTE ON FUNCTION genome.trap() TO genome_dashboard;
        """
    )
    db.execute("RESET ROLE")
    try:
        with psycopg.connect(login_dsn(db_dsn, DASHBOARD_ROLE), autocommit=True) as dash:
            who = dash.execute(
                "SELECT session_user::text, current_user::text, r.rolsuper,"
                " (SELECT count(*) FROM pg_class WHERE relowner = r.oid)"
                " + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)"
                " + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)"
                " FROM pg_roles AS r WHERE r.rolname = current_user"
            ).fetchone()
            assert who == (DASHBOARD_ROLE, DASHBOARD_ROLE, False, 0)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                dash.execute("SELECT * FROM genome.trap_view")
        owner_super = db.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'genome_owner'"
        ).fetchone()[0]
        assert owner_super is False
    finally:
        db.execute("ALTER ROLE genome_owner NOSUPERUSER")
