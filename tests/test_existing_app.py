"""The existing app's database: migrate a database holding the app's tables and rows
(tests/fixtures/existing_app.sql), then do the app's own writes as its service role
and as genome_app. What keeps working and what changes (and with which error) is what the
README's "Installing into the existing app's database" says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from agents.migrate import migrate
from tests.support import TEST_DB

FIXTURE = Path(__file__).parent / "fixtures" / "existing_app.sql"
ORG_A = "00000000-0000-0000-0000-0000000000a1"
ORG_B = "00000000-0000-0000-0000-0000000000a2"
BRAND_A = "00000000-0000-0000-0000-0000000000b1"
BRAND_B = "00000000-0000-0000-0000-0000000000b2"
PRODUCT_A = "00000000-0000-0000-0000-0000000000c1"
PRODUCT_B = "00000000-0000-0000-0000-0000000000c2"
RUN_COMPLETE = "00000000-0000-0000-0000-0000000000d5"
RUN_LEGACY = "00000000-0000-0000-0000-0000000000d7"
AD_LEGACY = "00000000-0000-0000-0000-000000000108"
APP_TABLES = [
    "organizations",
    "brands",
    "products",
    "ad_runs",
    "generated_ads",
    "meta_campaigns",
    "meta_ad_mapping",
    "meta_ads_performance",
    "ad_intelligence_baselines",
    "product_template_usage",
    "scheduled_jobs",
]
# The app's upserts as it writes them today (one per table with a key the migration changes).
OLD_UPSERTS = {
    "meta_ads_performance": (
        "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id,"
        " date, spend, brand_id) VALUES ('act_1', '120000000001', '23000000001', '2026-11-03',"
        " 44, %(brand)s) ON CONFLICT (meta_ad_id, date) DO UPDATE SET spend = excluded.spend"
    ),
    "meta_campaigns": (
        "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, name, brand_id)"
        " VALUES ('act_1', '23000000001', 'renamed', %(brand)s)"
        " ON CONFLICT (meta_ad_account_id, meta_campaign_id) DO UPDATE SET name = excluded.name"
    ),
    "brands": (
        "INSERT INTO brands (organization_id, name, slug) VALUES (%(org)s, 'Acme Skin', 'acme-skin')"
        " ON CONFLICT (slug) DO UPDATE SET name = excluded.name"
    ),
}
AD_UPSERT = (
    "INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, final_status, hook_text)"
    " VALUES (%(run)s, %(i)s, %(size)s, 'pending', %(hook)s)"
    " ON CONFLICT (ad_run_id, prompt_index, (COALESCE(canvas_size, 'default')))"
    " DO UPDATE SET hook_text = excluded.hook_text RETURNING id"
)


def _error(conn: psycopg.Connection, sql: str, params: Any = None) -> tuple[str, str | None]:
    """The SQLSTATE and constraint of a refused statement (rolled back to a savepoint)."""
    try:
        with conn.transaction():
            conn.execute(sql, params)
    except psycopg.Error as e:
        return str(e.sqlstate), e.diag.constraint_name
    raise AssertionError(f"not refused: {sql}")


def _one(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _rows(conn: psycopg.Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    return {
        t: conn.execute(f"SELECT {', '.join(columns[t])} FROM {t} ORDER BY id").fetchall()
        for t in APP_TABLES
    }


@pytest.fixture(scope="module")
def app_db(postgresql_noproc) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A database with the app's tables and rows, probed as the app before the migration,
    then migrated. Yields its DSN and what was seen before."""
    p = postgresql_noproc
    name = f"{TEST_DB}_app_{uuid.uuid4().hex[:8]}"
    admin = make_conninfo(host=p.host, port=p.port, user=p.user, dbname="postgres")
    dsn = make_conninfo(host=p.host, port=p.port, user=p.user, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute(FIXTURE.read_text())
            conn.commit()
            columns = {
                t: [
                    r[0]
                    for r in conn.execute(
                        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
                        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        (t,),
                    )
                ]
                for t in APP_TABLES
            }
            before = _rows(conn, columns)
            # Before: the browser role reads every table, the old upserts work.
            conn.execute("SET ROLE authenticated")
            seen = {t: _one(conn, f"SELECT count(*) FROM {t}") for t in APP_TABLES}
            conn.execute("SET ROLE service_role")
            for sql in OLD_UPSERTS.values():
                conn.execute(sql, {"brand": BRAND_A, "org": ORG_A})
            conn.rollback()
        migrate(dsn, Path(__file__).parents[1], jobs=False)
        yield {"dsn": dsn, "columns": columns, "before": before, "authenticated_saw": seen}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(app_db: dict[str, Any]) -> Iterator[psycopg.Connection]:
    """One transaction on the migrated app database, rolled back afterwards."""
    with psycopg.connect(app_db["dsn"]) as c:
        yield c
        c.rollback()


def test_migration_keeps_the_apps_rows_keys_and_indexes(
    app_db: dict[str, Any], conn: psycopg.Connection
) -> None:
    # Every row and every column the app had is as it was, legacy statuses included.
    assert _rows(conn, app_db["columns"]) == app_db["before"]
    assert _one(conn, "SELECT status FROM ad_runs WHERE id = %s", (RUN_LEGACY,)) == "completed"
    # The app's identity index is the one used: no second index of the same definition.
    indexes = {
        r[0]
        for r in conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index"
            " WHERE indrelid = 'generated_ads'::regclass"
        )
    }
    assert {"generated_ads_identity_key", "idx_generated_ads_element_tags"} <= indexes
    assert not {"generated_ads_identity_idx", "generated_ads_element_tags_idx"} & indexes
    # The status checks are new and NOT VALID: they bind new and updated rows only.
    checks = dict(
        conn.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname = ANY (%s)",
            (["ad_runs_status_check", "generated_ads_final_status_check"],),
        ).fetchall()
    )
    assert checks == {"ad_runs_status_check": False, "generated_ads_final_status_check": False}
    # Row-level security is now on for exactly these app tables, and these roles bypass it.
    rls = {
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind = 'r' AND relrowsecurity AND NOT relforcerowsecurity"
        )
    }
    assert rls == set(APP_TABLES)
    bypass = {
        r[0]
        for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE (rolbypassrls OR rolsuper) AND rolname = ANY (%s)",
            (["service_role", "authenticated", "genome_owner", "genome_app", "postgres"],),
        )
    }
    assert bypass == {"service_role", "genome_owner", "postgres"}


def test_service_role_does_the_apps_writes(conn: psycopg.Connection) -> None:
    total_ads = _one(conn, "SELECT count(*) FROM generated_ads")
    conn.execute("SET ROLE service_role")
    # It still sees every organization's rows.
    assert _one(conn, "SELECT count(*) FROM generated_ads") == total_ads
    # A new organization, brand and product (the organization gets its default review config).
    org = _one(
        conn, "INSERT INTO organizations (name, slug) VALUES ('Initech', 'initech') RETURNING id"
    )
    brand = _one(
        conn,
        "INSERT INTO brands (organization_id, name, slug) VALUES (%s, 'Initech', 'initech')"
        " RETURNING id",
        (org,),
    )
    product = _one(
        conn, "INSERT INTO products (brand_id, name) VALUES (%s, 'Stapler') RETURNING id", (brand,)
    )
    # A run along its statuses.
    run = _one(
        conn,
        "INSERT INTO ad_runs (product_id, status, parameters) VALUES (%s, 'pending', '{}')"
        " RETURNING id",
        (product,),
    )
    for status in ("analyzing", "generating"):
        conn.execute("UPDATE ad_runs SET status = %s WHERE id = %s", (status, run))
    # Ads inserted, then upserted on the app's identity (prompt 1 in two sizes).
    ads = [
        _one(conn, AD_UPSERT, {"run": run, "i": i, "size": size, "hook": f"hook {i}"})
        for i, size in [(1, "1080x1080px"), (1, "1080x1920px"), (2, None), (3, None), (4, None)]
    ]
    again = _one(conn, AD_UPSERT, {"run": run, "i": 1, "size": "1080x1080px", "hook": "better"})
    assert again == ads[0]
    assert _one(conn, "SELECT count(*) FROM generated_ads WHERE ad_run_id = %s", (run,)) == 5
    # An image stored under the organization's folder.
    conn.execute(
        "UPDATE generated_ads SET storage_path = %s WHERE id = %s", (f"{org}/{ads[0]}.png", ads[0])
    )
    # Reviews and every final status, then the run completes.
    conn.execute("UPDATE ad_runs SET status = 'reviewing' WHERE id = %s", (run,))
    finals = ["approved", "approved", "rejected", "flagged", "review_failed"]
    for ad, final in zip(ads, finals, strict=True):
        conn.execute(
            "UPDATE generated_ads SET final_status = %s, claude_review = '{\"weighted_score\": 7.2}',"
            " review_check_scores = '{\"V1\": 8}' WHERE id = %s",
            (final, ad),
        )
    conn.execute(
        "UPDATE generated_ads SET final_status = 'generation_failed' WHERE id = %s", (ads[4],)
    )
    conn.execute("UPDATE ad_runs SET status = 'complete' WHERE id = %s", (run,))
    conn.execute("UPDATE ad_runs SET status = 'failed' WHERE id = %s", (run,))
    # meta_sync: campaigns, insights (restated days and an unbranded ad) and mappings.
    campaign_upsert = (
        "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, name, objective, brand_id)"
        " VALUES ('act_1', '23000000001', %s, 'OUTCOME_SALES', %s)"
        " ON CONFLICT (brand_id, meta_ad_account_id, meta_campaign_id)"
        " DO UPDATE SET name = excluded.name"
    )
    conn.execute(campaign_upsert, ("renamed", BRAND_A))
    conn.execute(campaign_upsert, ("renamed again", BRAND_A))
    perf_upsert = (
        "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id,"
        " date, spend, impressions, link_clicks, purchases, link_ctr, conversion_rate, roas,"
        " brand_id, campaign_objective) VALUES (%s, %s, '23000000001', %s, %s, 4000, 50, 2,"
        " 1.25, 4.0, 2.1, %s, 'OUTCOME_SALES')"
        " ON CONFLICT (brand_id, meta_ad_id, date) DO UPDATE SET spend = excluded.spend,"
        " impressions = excluded.impressions, link_clicks = excluded.link_clicks"
    )
    n_perf = _one(conn, "SELECT count(*) FROM meta_ads_performance")
    for day in ("2026-11-03", "2026-11-04"):
        conn.execute(perf_upsert, ("act_1", "120000000001", day, 45.5, BRAND_A))
    for _ in range(2):
        conn.execute(perf_upsert, ("act_9", "120000000050", "2026-11-01", 6, None))
    assert _one(conn, "SELECT count(*) FROM meta_ads_performance") == n_perf + 1
    assert (
        _one(
            conn,
            "SELECT spend FROM meta_ads_performance WHERE meta_ad_id = '120000000001'"
            " AND date = '2026-11-03'",
        )
        == 45.5
    )
    for ad, meta in [(ads[0], "120000000101"), (ads[0], "120000000101"), (None, "120000000102")]:
        conn.execute(
            "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id,"
            " meta_campaign_id, linked_by) VALUES (%s, %s, 'act_3', '23000000003', 'auto')"
            " ON CONFLICT (generated_ad_id, meta_ad_id) DO NOTHING",
            (ad, meta),
        )
    # The rest of the app's bookkeeping.
    conn.execute(
        "INSERT INTO product_template_usage (product_id, template_storage_name, ad_run_id)"
        " VALUES (%s, 'testimonial_03.png', %s) ON CONFLICT (product_id, template_storage_name)"
        " DO UPDATE SET used_at = now(), ad_run_id = excluded.ad_run_id",
        (PRODUCT_A, run),
    )
    conn.execute(
        "UPDATE scheduled_jobs SET runs_completed = runs_completed + 1, status = 'completed'"
        " WHERE job_type = 'meta_sync'"
    )
    conn.execute(
        "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level,"
        " creative_format, p75_ctr) VALUES (%s, %s, 'all', 'all', 0.02)",
        (org, brand),
    )
    conn.execute("RESET ROLE")
    # What the genome keeps beside the app's writes.
    assert (
        _one(
            conn,
            "SELECT count(*) FROM genome.quality_scoring_config WHERE organization_id = %s",
            (org,),
        )
        == 1
    )
    assert _one(conn, "SELECT approved_count FROM ad_runs WHERE id = %s", (run,)) == 2
    assert (
        _one(
            conn,
            "SELECT count(*) FROM genome.ad_status_history AS h"
            " JOIN generated_ads AS g ON g.id = h.generated_ad_id WHERE g.ad_run_id = %s",
            (run,),
        )
        == 6
    )
    assert (
        _one(conn, "SELECT brand_id FROM meta_ad_mapping WHERE meta_ad_id = '120000000101'")
        == brand
    )


def test_what_the_service_role_is_refused(conn: psycopg.Connection) -> None:
    conn.execute("SET ROLE service_role")
    params = {"brand": BRAND_A, "org": ORG_A}
    # The old upserts, which worked before the migration (the app_db fixture ran them):
    # their unique keys are now per brand / organization.
    for table, sql in OLD_UPSERTS.items():
        assert _error(conn, sql, params) == ("42P10", None), table
    # The same Meta campaign id under two brands, and the same slug in two organizations.
    conn.execute(
        "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, brand_id)"
        " VALUES ('act_1', '23000000001', %s)",
        (BRAND_B,),
    )
    conn.execute(
        "INSERT INTO brands (organization_id, name, slug) VALUES (%s, 'Acme', 'acme-skin')",
        (ORG_B,),
    )
    conn.execute(
        "INSERT INTO brands (organization_id, name, slug) VALUES (%s, 'Acme Skin 2', 'acme-skin')"
        " ON CONFLICT (organization_id, slug) DO UPDATE SET name = excluded.name",
        (ORG_A,),
    )
    assert _one(conn, "SELECT name FROM brands WHERE id = %s", (BRAND_A,)) == "Acme Skin 2"
    # The two-column key on ads does not exist (the app's identity is the three-part one).
    assert _error(
        conn,
        "INSERT INTO generated_ads (ad_run_id, prompt_index) VALUES (%s, 1)"
        " ON CONFLICT (ad_run_id, prompt_index) DO NOTHING",
        (RUN_COMPLETE,),
    ) == ("42P10", None)
    # Statuses outside the app's vocabularies.
    assert _error(
        conn, "INSERT INTO ad_runs (product_id, status) VALUES (%s, 'completed')", (PRODUCT_A,)
    ) == ("23514", "ad_runs_status_check")
    assert _error(
        conn,
        "UPDATE generated_ads SET final_status = 'needs_review' WHERE ad_run_id = %s",
        (RUN_COMPLETE,),
    ) == ("23514", "generated_ads_final_status_check")
    # A legacy row keeps its value until it is updated; then it must take a listed status.
    assert _error(conn, "UPDATE ad_runs SET parameters = '{}' WHERE id = %s", (RUN_LEGACY,)) == (
        "23514",
        "ad_runs_status_check",
    )
    assert _error(conn, "UPDATE generated_ads SET hook_text = 'x' WHERE id = %s", (AD_LEGACY,)) == (
        "23514",
        "generated_ads_final_status_check",
    )
    # The plan: fix the legacy rows once, then the checks can be validated.
    conn.execute("RESET ROLE")
    validate = [
        "ALTER TABLE ad_runs VALIDATE CONSTRAINT ad_runs_status_check",
        "ALTER TABLE generated_ads VALIDATE CONSTRAINT generated_ads_final_status_check",
    ]
    assert _error(conn, validate[0]) == ("23514", "ad_runs_status_check")
    conn.execute("SET ROLE service_role")
    conn.execute("UPDATE ad_runs SET status = 'complete' WHERE status = 'completed'")
    conn.execute(
        "UPDATE generated_ads SET final_status = 'approved' WHERE final_status = 'completed'"
    )
    conn.execute("RESET ROLE")
    for sql in validate:
        conn.execute(sql)
    conn.execute("SET ROLE service_role")
    # Meta numbers: CTR and conversion rate are percent (at most 100), nothing negative.
    assert _error(
        conn,
        "UPDATE meta_ads_performance SET link_ctr = 120 WHERE meta_ad_id = '120000000001'",
    ) == ("23514", "meta_ads_performance_rates_check")
    assert _error(
        conn,
        "UPDATE meta_ads_performance SET spend = -1 WHERE meta_ad_id = '120000000001'",
    ) == ("23514", "meta_ads_performance_spend_check")
    # An image path outside "<organization id>/<file name>" (the app's folder layout).
    assert _error(
        conn,
        "INSERT INTO generated_ads (ad_run_id, prompt_index, storage_path) VALUES (%s, 9, %s)",
        (RUN_COMPLETE, f"{BRAND_A}/{RUN_COMPLETE}/9_1080x1080px.png"),
    ) == ("GN423", None)


def test_other_roles_see_nothing_genome_app_sees_its_organization(
    app_db: dict[str, Any], conn: psycopg.Connection
) -> None:
    # A role without BYPASSRLS and outside genome_app (a browser session) read every row
    # before; now it reads none and writes none.
    assert all(app_db["authenticated_saw"][t] > 0 for t in APP_TABLES)
    conn.execute("SET ROLE authenticated")
    assert {t: _one(conn, f"SELECT count(*) FROM {t}") for t in APP_TABLES} == dict.fromkeys(
        APP_TABLES, 0
    )
    assert _error(conn, "INSERT INTO ad_runs (product_id) VALUES (%s)", (PRODUCT_A,)) == (
        "42501",
        None,
    )
    # genome_app without an organization: nothing; with one: that organization's rows only.
    conn.execute("SET ROLE genome_app")
    assert _one(conn, "SELECT count(*) FROM generated_ads") == 0
    assert _error(conn, "INSERT INTO ad_runs (product_id) VALUES (%s)", (PRODUCT_A,)) == (
        "42501",
        None,
    )
    conn.execute("SELECT set_config('app.organization_id', %s, true)", (ORG_A,))
    assert _one(conn, "SELECT count(DISTINCT organization_id) FROM brands") == 1
    run = _one(conn, "INSERT INTO ad_runs (product_id) VALUES (%s) RETURNING id", (PRODUCT_A,))
    ad = _one(conn, AD_UPSERT, {"run": run, "i": 1, "size": "1080x1080px", "hook": "a"})
    assert _one(conn, AD_UPSERT, {"run": run, "i": 1, "size": "1080x1080px", "hook": "b"}) == ad
    conn.execute("UPDATE generated_ads SET final_status = 'approved' WHERE id = %s", (ad,))
    conn.execute("UPDATE ad_runs SET status = 'complete' WHERE id = %s", (run,))
    assert _one(conn, "SELECT approved_count FROM ad_runs WHERE id = %s", (run,)) == 1
    conn.execute(
        "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id,"
        " date, spend, brand_id) VALUES ('act_1', '120000000001', '23000000001', '2026-11-03',"
        " 47, %s) ON CONFLICT (brand_id, meta_ad_id, date) DO UPDATE SET spend = excluded.spend",
        (BRAND_A,),
    )
    # Another organization's product, and insights without a brand, are refused.
    assert _error(conn, "INSERT INTO ad_runs (product_id) VALUES (%s)", (PRODUCT_B,)) == (
        "42501",
        None,
    )
    assert _error(
        conn,
        "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id,"
        " date) VALUES ('act_9', '120000000051', '23000000050', '2026-11-02')",
    ) == ("42501", None)
    assert conn.execute("UPDATE products SET name = 'x' WHERE id = %s", (PRODUCT_B,)).rowcount == 0
