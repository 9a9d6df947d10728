"""The tenant key column the policies compare (docs/security.md#row-level-security):
tenant_organization_id is written by a trigger from the row's tenant keys, whatever a writer
gives, so the app cannot widen its own visibility through it; it follows a parent that the
owner moves to another organization; rows whose keys disagree are nobody's but the owner's;
migrate fills it for rows that existed before; the app's policy is an index key."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from sim import factories as f
from tests.support.pipeline import make_ads, make_product
from tests.support.security import session


def _derived_tables(db: psycopg.Connection) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT table_name, org_expression FROM genome._tenant_keys() "
        "WHERE tenant_column = 'tenant_organization_id' ORDER BY depth, table_name"
    ).fetchall()


def _stale(db: psycopg.Connection) -> dict[str, int]:
    """Rows whose stored tenant_organization_id differs from what their keys give now."""
    out: dict[str, int] = {}
    for name, expression in _derived_tables(db):
        n = db.execute(
            f"SELECT count(*) FROM {name} AS __row__ "
            f"WHERE __row__.tenant_organization_id IS DISTINCT FROM {expression}"
        ).fetchone()[0]
        if n:
            out[name] = n
    return out


def test_app_cannot_widen_its_visibility_through_the_tenant_column(
    db: psycopg.Connection, db_dsn: str
) -> None:
    a, b = make_product(db, "A"), make_product(db, "B")
    ads = {"A": make_ads(db, a["product"], 2), "B": make_ads(db, b["product"], 2)}
    assert _stale(db) == {}
    with session(db_dsn, "genome_app", a["organization"]) as app:
        # Writing B's organization into an own row: the trigger writes the keys' organization
        # back, so the row stays A's (and B never sees it).
        assert (
            app.execute(
                "UPDATE generated_ads SET tenant_organization_id = %s WHERE id = %s "
                "RETURNING tenant_organization_id",
                (b["organization"], ads["A"][0]),
            ).fetchone()[0]
            == a["organization"]
        )
        # Claiming A's organization for a row under B's product is refused like any row of B.
        for sql, args in [
            (
                "INSERT INTO ad_runs (product_id, tenant_organization_id) VALUES (%s, %s)",
                (b["product"], a["organization"]),
            ),
            (
                "INSERT INTO products (brand_id, name, tenant_organization_id) VALUES (%s, 'x', %s)",
                (b["brand"], a["organization"]),
            ),
            # One own key and one of B's: the keys disagree, so the row is nobody's.
            (
                "INSERT INTO genome.creative_element_scores (organization_id, brand_id, "
                "element_dimension, element_value, tenant_organization_id) "
                "VALUES (%s, %s, 'hook_type', 'urgency', %s)",
                (a["organization"], b["brand"], a["organization"]),
            ),
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                app.execute(sql, args)
        # B's rows cannot be reached to rewrite their column.
        assert (
            app.execute(
                "UPDATE generated_ads SET tenant_organization_id = %s WHERE id = ANY(%s)",
                (a["organization"], ads["B"]),
            ).rowcount
            == 0
        )
        # Moving an own ad under B's run is refused (WITH CHECK on the recomputed column).
        b_run = db.execute(
            "SELECT ad_run_id FROM generated_ads WHERE id = %s", (ads["B"][0],)
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            app.execute(
                "UPDATE generated_ads SET ad_run_id = %s, prompt_index = 99 WHERE id = %s",
                (b_run, ads["A"][1]),
            )
        # Nor can it switch the triggers off or make them skip.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("ALTER TABLE generated_ads DISABLE TRIGGER zz_tenant_organization")
        assert app.execute("SELECT count(*) FROM generated_ads").fetchone()[0] == 2
    with session(db_dsn, "genome_app", b["organization"]) as app:
        seen = {r[0] for r in app.execute("SELECT id FROM generated_ads").fetchall()}
        assert seen == set(ads["B"])
    assert _stale(db) == {}


def test_rows_whose_keys_disagree_are_the_owners_only(db: psycopg.Connection, db_dsn: str) -> None:
    a, b = make_product(db, "A"), make_product(db, "B")
    # The owner may write such a row; its organization is none.
    row = db.execute(
        "INSERT INTO genome.creative_element_scores (organization_id, brand_id, "
        "element_dimension, element_value) VALUES (%s, %s, 'hook_type', 'urgency') "
        "RETURNING id, tenant_organization_id",
        (a["organization"], b["brand"]),
    ).fetchone()
    assert row[1] is None
    for org in (a["organization"], b["organization"]):
        with session(db_dsn, "genome_app", org) as app:
            assert (
                app.execute(
                    "SELECT count(*) FROM genome.creative_element_scores WHERE id = %s", (row[0],)
                ).fetchone()[0]
                == 0
            )
    # A key that leads nowhere (a job id that is no job: ad_defect_scans.agent_job_id has no
    # foreign key) makes the row nobody's either, own ad or not; the app may not write it.
    ad = make_ads(db, a["product"], 1)[0]
    scan = (
        "INSERT INTO genome.ad_defect_scans (generated_ad_id, agent_job_id, passed, model_used) "
        "VALUES (%s, %s, true, 'm') RETURNING tenant_organization_id"
    )
    assert db.execute(scan, (ad, uuid.uuid4())).fetchone()[0] is None
    assert db.execute(scan, (ad, None)).fetchone()[0] == a["organization"]
    with session(db_dsn, "genome_app", a["organization"]) as app:
        assert app.execute("SELECT count(*) FROM genome.ad_defect_scans").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            app.execute(scan, (ad, uuid.uuid4()))


def test_a_moved_brand_takes_its_rows_along(db: psycopg.Connection, db_dsn: str) -> None:
    a, b = make_product(db, "A"), make_product(db, "B")
    ads = make_ads(db, a["product"], 3)
    counts = "SELECT (SELECT count(*) FROM generated_ads), (SELECT count(*) FROM genome.agent_jobs)"
    with session(db_dsn, "genome_app", a["organization"]) as app:
        assert app.execute(counts).fetchone() == (3, 3)
    # The owner moves A's brand to organization B: its product, run, ads and jobs follow.
    db.execute(
        "UPDATE brands SET organization_id = %s WHERE id = %s", (b["organization"], a["brand"])
    )
    assert _stale(db) == {}
    with session(db_dsn, "genome_app", a["organization"]) as app:
        assert app.execute(counts).fetchone() == (0, 0)
        assert app.execute("SELECT count(*) FROM products").fetchone()[0] == 0
    with session(db_dsn, "genome_app", b["organization"]) as app:
        assert app.execute(counts).fetchone() == (3, 3)
        assert {r[0] for r in app.execute("SELECT id FROM generated_ads")} == set(ads)


def test_migrate_fills_the_column_for_existing_rows(db: psycopg.Connection, db_dsn: str) -> None:
    """A tenant table created by a later migration, with rows before the security step ran:
    the step adds the column, fills it from the keys, and the app sees its own rows."""
    a, b = f.brand(db, name="A"), f.brand(db, name="B")
    db.execute(
        "CREATE TABLE genome.later_keys (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        "brand_id uuid REFERENCES brands (id), note text)"
    )
    db.execute("INSERT INTO genome.later_keys (brand_id, note) VALUES (%s, 'a'), (%s, 'b')", (a, b))
    out = db.execute("SELECT genome._apply_tenancy()").fetchone()[0]
    assert out["tenant_key_objects_changed"] >= 3  # column, trigger function, trigger
    assert _stale(db) == {}
    org_a = db.execute("SELECT organization_id FROM brands WHERE id = %s", (a,)).fetchone()[0]
    with session(db_dsn, "genome_app", org_a) as app:
        assert app.execute("SELECT note FROM genome.later_keys").fetchall() == [("a",)]
    # A rerun changes nothing.
    again = db.execute("SELECT genome._apply_tenancy()").fetchone()[0]
    assert again["tenant_key_objects_changed"] == 0 and again["policies_changed"] == 0


def test_the_apps_policy_is_an_index_key(db: psycopg.Connection, db_dsn: str) -> None:
    a = make_product(db, "A")
    make_ads(db, a["product"], 3)
    with session(db_dsn, "genome_app", a["organization"]) as app:
        app.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in app.execute("EXPLAIN SELECT id FROM generated_ads"))
        assert "generated_ads_tenant_organization_id_idx" in plan, plan
        # No array of a parent's ids, and no definer call, for the app's statement.
        assert "ARRAY" not in plan and "owner_session" not in plan, plan


def test_a_parallel_scan_through_the_policies_sees_what_a_serial_one_does(
    db: psycopg.Connection, db_dsn: str
) -> None:
    """The policies' functions are parallel-safe (docs/security.md#row-level-security): a
    scan forced parallel runs its workers under the policy and each session sees the rows
    it sees serially (its organization's; none without one; a malformed organization is
    GN950 from the workers too)."""
    a, b = make_product(db, "A"), make_product(db, "B")
    make_ads(db, a["product"], 3)
    make_ads(db, b["product"], 2)
    force = (
        "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
        "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2"
    )
    count = "SELECT count(*) FROM generated_ads"
    with session(db_dsn, "genome_app", a["organization"]) as app:
        serial = app.execute(count).fetchone()[0]
        assert serial == 3
        for statement in force.split("; "):
            app.execute(statement)
        app.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in app.execute("EXPLAIN " + count))
        # The organization an InitPlan in the leader, the filter in each worker.
        assert "Parallel Seq Scan" in plan and "Filter: (tenant_organization_id = $0)" in plan, plan
        assert app.execute(count).fetchone()[0] == serial
        app.execute("SET app.organization_id = 'not-an-organization'")
        with pytest.raises(psycopg.Error) as e:
            app.execute(count)
        assert e.value.sqlstate == "GN950"
    with session(db_dsn, "genome_app") as nobody:
        for statement in force.split("; "):
            nobody.execute(statement)
        assert nobody.execute(count).fetchone()[0] == 0


def test_the_owners_session_sees_every_row_through_an_api_function(
    db: psycopg.Connection, db_dsn: str
) -> None:
    """genome_owner_session (genome_api only): an API function called from the owner's own
    session sees every organization's rows and those of no organization (keys that
    disagree); an app session, with or without an organization, never through it."""
    a, b = make_product(db, "A"), make_product(db, "B")
    db.execute(
        "INSERT INTO genome.system_alerts (organization_id, brand_id, alert_type, severity, title) "
        "VALUES (%s, NULL, 'approval_rate', 'warning', 'mine'), "
        "(%s, NULL, 'approval_rate', 'warning', 'theirs'), "
        "(%s, %s, 'approval_rate', 'warning', 'nobody''s')",
        (a["organization"], b["organization"], a["organization"], b["brand"]),
    )
    titles = "SELECT title FROM genome.open_alerts() ORDER BY title"
    assert [r[0] for r in db.execute(titles)] == ["mine", "nobody's", "theirs"]
    with session(db_dsn, "genome_app", a["organization"]) as app:
        assert [r[0] for r in app.execute(titles)] == ["mine"]
    with session(db_dsn, "genome_app") as nobody:
        assert nobody.execute(titles).fetchall() == []
        # An empty setting is no organization, not the owner's session.
        nobody.execute("SET app.organization_id = ' '")
        assert nobody.execute(titles).fetchall() == []


def test_who_counts_as_the_owners_session(db: psycopg.Connection, db_dsn: str) -> None:
    """genome.owner_session (through genome._caller_is_owner) reads the role cache, not
    pg_roles: a superuser, genome_owner and a member of it (a mixed-case name included) are
    the owner; the app and another member of genome_app are not; a session with an
    organization set is never the owner's session, and a malformed one is GN950."""
    ask = "SELECT genome.owner_session()"
    assert db.execute("SELECT genome._caller_is_owner(), genome.owner_session()").fetchone() == (
        True,
        True,
    )
    db.execute('CREATE ROLE "Ops Owner" IN ROLE genome_owner')
    db.execute('CREATE ROLE "Ops App" IN ROLE genome_app')
    db.commit()
    try:
        for role, owner in [
            ("genome_owner", True), ('"Ops Owner"', True), ("genome_app", False),
            ('"Ops App"', False),
        ]:  # fmt: skip
            with psycopg.connect(db_dsn) as conn:
                conn.execute(f"SET ROLE {role}")
                assert conn.execute(ask).fetchone()[0] is owner, role
                conn.execute(
                    "SELECT set_config('app.organization_id', %s, false)", (str(uuid.uuid4()),)
                )
                assert conn.execute(ask).fetchone()[0] is False, role
                conn.execute("SET app.organization_id = 'not-a-uuid'")
                with pytest.raises(psycopg.Error) as bad:
                    conn.execute(ask)
                assert bad.value.diag.sqlstate == "GN950"
    finally:
        db.execute('DROP ROLE "Ops Owner"')
        db.execute('DROP ROLE "Ops App"')
        db.commit()
