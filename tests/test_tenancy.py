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

from tests.support.security import Tenant, build_two_orgs, session, tenant_tables


@pytest.fixture
def two_orgs(db: psycopg.Connection, db_dsn: str, tmp_path: Path) -> dict[str, Tenant]:
    return build_two_orgs(db, db_dsn, tmp_path / "img")


def _rows(conn: psycopg.Connection, table: str) -> list[dict[str, Any]]:
    return [r[0] for r in conn.execute(f"SELECT to_jsonb(t) FROM {table} AS t").fetchall()]


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
        rows = _rows(db, name)
        owned = {"A": [r for r in rows if "A" in _owner(r, cols, two_orgs)],
                 "B": [r for r in rows if "B" in _owner(r, cols, two_orgs)]}  # fmt: skip
        for org in ("A", "B"):
            if not owned[org]:
                empty[org].append(name)
        assert not [r for r in rows if _owner(r, cols, two_orgs) == {"A", "B"}], (
            f"{name}: a row links to both organizations"
        )
        if not db.execute(
            "SELECT has_table_privilege('genome_app', %s, 'SELECT')", (name,)
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
            seen = _rows(app, name)
            assert not [r for r in seen if "B" in _owner(r, cols, two_orgs)], f"{name}: leaks B"
            assert len(seen) == len(owned["A"]), f"{name}: A sees {len(seen)} of {len(owned['A'])}"
            # Update and delete of B's rows touch nothing.
            b_ctids = [
                r[0]
                for r in db.execute(
                    f"SELECT ctid::text FROM {name} AS t WHERE to_jsonb(t) = ANY(%s::jsonb[])",
                    ([json.dumps(r) for r in owned["B"]],),
                ).fetchall()
            ]
            key = cols[0]
            cur = app.execute(
                f"UPDATE {name} SET {key} = {key} WHERE ctid = ANY(%s::tid[])", (b_ctids,)
            )
            assert cur.rowcount == 0, f"{name}: A updated B rows"
            cur = app.execute(f"DELETE FROM {name} WHERE ctid = ANY(%s::tid[])", (b_ctids,))
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
