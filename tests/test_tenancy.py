"""Row-level tenancy: for every tenant table (enumerated from the catalog, so tables added by
later migrations are covered), an org-A app session reads no row of org B, cannot insert or
update into org B, and with no organization set sees nothing. The two organizations' data
comes from a short run of the real pipeline (plan_ads as the app, agents as genome_agent,
Meta insights, every scheduled job)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.pipeline import make_ads, make_product
from tests.support.security import Tenant, build_two_orgs, session, tenant_tables


@pytest.fixture
def two_orgs(db: psycopg.Connection, db_dsn: str, tmp_path: Path) -> dict[str, Tenant]:
    return build_two_orgs(db, db_dsn, tmp_path / "img")


def _rows(db: psycopg.Connection, table: str, hidden: list[str]) -> list[dict[str, Any]]:
    """Every row as the owner reads it, without the columns the app may not read."""
    return [
        r[0] for r in db.execute(f"SELECT to_jsonb(t) - %s::text[] FROM {table} AS t", (hidden,))
    ]


def _seen(app: psycopg.Connection, table: str, hidden: list[str], db: psycopg.Connection) -> list:
    """The rows the app reads, column by column (it may not read the hidden ones)."""
    columns = [
        r[0]
        for r in db.execute(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (table,),
        )
        if r[0] not in hidden
    ]
    select = ", ".join(f't."{c}"' for c in columns)
    return [
        r[0]
        for r in app.execute(f"SELECT to_jsonb(x) FROM (SELECT {select} FROM {table} AS t) AS x")
    ]


def _hidden(db: psycopg.Connection, table: str) -> list[str]:
    """The columns of a table the app may read some of but not these
    (genome.agent_jobs.lease_token)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND has_any_column_privilege('genome_app', attrelid, 'SELECT') "
            "AND NOT has_column_privilege('genome_app', attrelid, attnum, 'SELECT') ORDER BY attnum",
            (table,),
        )
    ]


def _owner(row: dict[str, Any], columns: list[str], tenants: dict[str, Tenant]) -> set[str]:
    """Which organizations a row belongs to, by its tenant key values (explicit joins of
    tenant_ids, independent of the policies)."""
    values = {str(row.get(c)) for c in columns if row.get(c) is not None}
    return {name for name, t in tenants.items() if values & t.ids}


def _insertable(db: psycopg.Connection, table: str) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attidentity <> 'a' AND attgenerated = '' ORDER BY attnum",
            (table,),
        ).fetchall()
    ]


def test_every_tenant_table_is_isolated(
    db: psycopg.Connection,
    db_dsn: str,
    two_orgs: dict[str, Tenant],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two_orgs["A"], two_orgs["B"]
    tables = tenant_tables(db)
    names = {t["table_name"] for t in tables}
    # The catalog finds the app's tables and the genome's tenant tables.
    assert {
        "public.organizations", "public.brands", "public.products", "public.ad_runs",
        "public.generated_ads", "public.meta_ads_performance", "public.meta_ad_mapping",
        "genome.creative_element_rewards", "genome.creative_element_scores",
        "genome.brand_priors", "genome.agent_jobs", "genome.ad_reviews", "genome.experiments",
    } <= names  # fmt: skip
    links = {
        (r[0], r[1]): r[2]
        for r in db.execute(
            "SELECT table_name, link_column, parent_name FROM genome._tenant_links()"
        ).fetchall()
    }
    b_parent: dict[str, str] = {}
    for parent in {p for p in links.values() if p}:
        row = db.execute(
            f"SELECT id::text FROM {parent} WHERE id::text = ANY(%s) ORDER BY 1 LIMIT 1",
            (sorted(b.ids),),
        ).fetchone()
        if row:
            b_parent[parent] = row[0]
    empty: dict[str, list[str]] = {"A": [], "B": []}
    for t in tables:
        name, cols = t["table_name"], list(t["tenant_columns"])
        if name == "public.organizations":
            cols = ["id"]
        hidden = _hidden(db, name)
        rows = _rows(db, name, hidden)
        owned = {"A": [r for r in rows if "A" in _owner(r, cols, two_orgs)],
                 "B": [r for r in rows if "B" in _owner(r, cols, two_orgs)]}  # fmt: skip
        for org in ("A", "B"):
            if not owned[org]:
                empty[org].append(name)
        assert not [r for r in rows if _owner(r, cols, two_orgs) == {"A", "B"}], (
            f"{name}: a row links to both organizations"
        )
        if not db.execute(
            "SELECT has_any_column_privilege('genome_app', %s, 'SELECT')", (name,)
        ).fetchone()[0]:
            # Not the app's at all, not even its own organization's rows (genome.dashboard_users,
            # docs/security.md#dashboard-logins): refused outright, the policy stays behind it.
            with (
                session(db_dsn, "genome_app", a.organization) as app,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                app.execute(f"SELECT 1 FROM {name}")
            continue
        # Read: A sees exactly its own rows, B's never; nothing without an organization.
        with session(db_dsn, "genome_app", a.organization) as app:
            seen = _seen(app, name, hidden, db)
            assert not [r for r in seen if "B" in _owner(r, cols, two_orgs)], f"{name}: leaks B"
            assert len(seen) == len(owned["A"]), f"{name}: A sees {len(seen)} of {len(owned['A'])}"
            # Update and delete of B's rows touch nothing.
            b_ctids = [
                r[0]
                for r in db.execute(
                    f"SELECT ctid::text FROM {name} AS t "
                    "WHERE to_jsonb(t) - %s::text[] = ANY(%s::jsonb[])",
                    (hidden, [json.dumps(r) for r in owned["B"]]),
                ).fetchall()
            ]
            key = cols[0]
            # B's rows by ctid, or by id where the app may not read every column (a system
            # column needs the table-wide privilege)
            where, ids = (
                ("ctid = ANY(%s::tid[])", b_ctids)
                if not hidden
                else ("id = ANY(%s::uuid[])", [r["id"] for r in owned["B"]])
            )
            cur = app.execute(f"UPDATE {name} SET {key} = {key} WHERE {where}", (ids,))
            assert cur.rowcount == 0, f"{name}: A updated B rows"
            cur = app.execute(f"DELETE FROM {name} WHERE {where}", (ids,))
            assert cur.rowcount == 0, f"{name}: A deleted B rows"
            # Insert: B's row (or a row made of B's keys when B has none) with a new id.
            model = dict(owned["B"][0]) if owned["B"] else {}
            for col in cols:
                parent = links.get((name, col))
                if parent in b_parent:
                    model[col] = b_parent[parent]
            if name == "public.organizations":
                model["id"] = str(b.organization)
            elif "id" in model and _is_uuid(db, name, "id"):
                model["id"] = str(uuid.uuid4())
            assert any(str(model.get(c)) in b.ids for c in cols), f"{name}: no B key to insert"
            columns = _insertable(db, name)
            column_list = ", ".join(f'"{c}"' for c in columns)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                app.execute(
                    f"INSERT INTO {name} ({column_list}) SELECT {column_list} "
                    f"FROM jsonb_populate_record(NULL::{name}, %s::jsonb)",
                    (json.dumps(model),),
                )
        with session(db_dsn, "genome_app") as nobody:
            assert nobody.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == 0, name
    # A's own rows are writable (the policies are not simply closed).
    with session(db_dsn, "genome_app", a.organization) as app:
        assert (
            app.execute("UPDATE brands SET description = 'mine' WHERE id = %s", (a.brand,)).rowcount
            == 1
        )
        app.execute("INSERT INTO products (brand_id, name) VALUES (%s, 'new')", (a.brand,))
        # Moving an A row into B is refused by WITH CHECK.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            app.execute("UPDATE products SET brand_id = %s WHERE id = %s", (b.brand, a.product))
    with capsys.disabled():
        print(f"\ntenant tables: {len(tables)}")
        for org in ("A", "B"):
            print(f"tables with no rows of org {org} (insert/update checks only): {empty[org]}")
    # Most tables hold rows of both organizations.
    assert len(empty["B"]) <= len(tables) // 3, empty["B"]


def _is_uuid(db: psycopg.Connection, table: str, column: str) -> bool:
    return bool(
        db.execute(
            "SELECT atttypid = 'uuid'::regtype FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = %s",
            (table, column),
        ).fetchone()[0]
    )


def test_api_under_the_app_role(db_dsn: str, two_orgs: dict[str, Tenant]) -> None:
    a, b = two_orgs["A"], two_orgs["B"]
    with session(db_dsn, "genome_app", b.organization) as app:
        # A's brand does not exist for an org-B session: refused, and nothing about it leaks.
        with pytest.raises(psycopg.Error, match="unknown brand") as err:
            app.execute("SELECT genome.select_elements(%s, %s)", (a.brand, a.product))
        assert err.value.sqlstate == "GN001"
        with pytest.raises(psycopg.Error, match="unknown ad_run") as err:
            app.execute("SELECT genome.plan_ads(%s, 1)", (a.run,))
        assert err.value.sqlstate == "GN010"
        # Its own brand works, and sees its own element scores only.
        sel = app.execute(
            "SELECT genome.select_elements(%s, %s, p_seed => 1)", (b.brand, b.product)
        )
        assert "element_tags" in sel.fetchone()[0]
    with (
        session(db_dsn, "genome_app") as nobody,
        pytest.raises(psycopg.Error, match="unknown brand"),
    ):
        nobody.execute("SELECT genome.select_elements(%s, %s)", (a.brand, a.product))
    with (
        session(db_dsn, "genome_app", "not-a-uuid") as bad,
        pytest.raises(psycopg.Error, match=r"app\.organization_id") as err,
    ):
        bad.execute("SELECT count(*) FROM brands")
    assert err.value.sqlstate == "GN950"


def _error(conn: psycopg.Connection, sql: str, args: tuple, ids: list[str]) -> tuple[str, str]:
    """The SQLSTATE and message of a refused call, with the ids it was given blanked."""
    with pytest.raises(psycopg.Error) as err:
        conn.execute(sql, args)
    message = err.value.diag.message_primary or ""
    for i in ids:
        message = message.replace(i, "<id>")
    return err.value.sqlstate or "", message


def test_api_functions_run_as_genome_api_for_the_callers_organization(
    db: psycopg.Connection, db_dsn: str
) -> None:
    """The API functions are SECURITY DEFINER as genome_api: for an app login role with
    organization A, B's ids are as unknown as random ones (the same error) and A's own rows
    are all it sees; the owner's session (the scheduled jobs) still sees every organization."""
    a, b = make_product(db, "A"), make_product(db, "B")
    ads = {"A": make_ads(db, a["product"], 1)[0], "B": make_ads(db, b["product"], 1)[0]}
    for org in (a, b):
        db.execute(
            "INSERT INTO genome.system_alerts (organization_id, alert_type, severity, title) "
            "VALUES (%s, 'approval_rate', 'warning', 'low')",
            (org["organization"],),
        )
    theirs_by_kind = {
        "brand": b["brand"],
        "ad": ads["B"],
        "run": db.execute(
            "SELECT ad_run_id FROM generated_ads WHERE id = %s", (ads["B"],)
        ).fetchone()[0],
    }
    login = f"tenancy_app_{uuid.uuid4().hex[:8]}"
    db.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE genome_app')
    calls = [
        ("SELECT genome.select_elements(%s, NULL)", "brand"),
        ("SELECT genome.plan_ads(%s, 1)", "run"),
        ("SELECT genome.decide_review(%s)", "ad"),
        ("SELECT genome.enqueue_job('review', %s)", "ad"),
        ("SELECT genome.record_override(%s, 'approved', 'looks fine', '{}', 'me')", "ad"),
        ("SELECT * FROM genome.similar_exemplars(%s)", "ad"),
    ]
    try:
        with psycopg.connect(db_dsn, autocommit=True) as app:
            # The session as the login role itself (the project cluster takes no password
            # logins over its socket): session_user and current_user are the login, no SET ROLE.
            app.execute(f'SET SESSION AUTHORIZATION "{login}"')
            assert app.execute("SELECT session_user, current_user").fetchone() == (login, login)
            app.execute(
                "SELECT set_config('app.organization_id', %s, false)", (str(a["organization"]),)
            )
            for sql, kind in calls:
                theirs = str(theirs_by_kind[kind])
                random = str(uuid.uuid4())
                assert _error(app, sql, (theirs,), [theirs]) == _error(
                    app, sql, (random,), [random]
                )
            # Its own organization's rows, all of them, and no other.
            alerts = app.execute("SELECT organization_id FROM genome.open_alerts()").fetchall()
            assert alerts == [(a["organization"],)]
            assert (
                app.execute("SELECT genome.decide_review(%s)", (ads["A"],)).fetchone()[0]
                == "pending"
            )
        # Nothing of B's changed.
        assert (
            db.execute(
                "SELECT count(*) FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = 'review'",
                (ads["B"],),
            ).fetchone()[0]
            == 0
        )
        # The owner's own session (a scheduled job) sees both organizations through the API.
        assert db.execute("SELECT count(*) FROM genome.open_alerts()").fetchone()[0] == 2
    finally:
        db.execute(f'DROP ROLE "{login}"')
