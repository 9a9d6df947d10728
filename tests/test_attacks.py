"""Attacks performed as the attacker's role (docs/attacks.md): each test fails if its attack
works again."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests import factories as f
from tests.test_security_support import session

# --- Tenant data (docs/security.md#tenant-data) ---------------------------------------------

DAY0 = dt.date(2025, 3, 3)
LATER = f.at(DAY0 + dt.timedelta(days=30))


@dataclass
class Org:
    organization: uuid.UUID
    brand: uuid.UUID
    product: uuid.UUID
    run: uuid.UUID
    ad: uuid.UUID


def _org(db: psycopg.Connection, name: str) -> Org:
    org = f.org(db, f"Org {name}")
    brand = f.brand(db, org, name=f"Brand {name}")
    product = f.product(db, brand)
    run = f.ad_run(db, product)
    ad = f.ad(db, run, {"hook_type": "urgency"})
    return Org(org, brand, product, run, ad)


@pytest.fixture
def orgs(db: psycopg.Connection) -> tuple[Org, Org]:
    return _org(db, "A"), _org(db, "B")


def _insights(db: psycopg.Connection, meta_ad_id: str, brand: uuid.UUID, clicks: int) -> None:
    for d in range(14):
        f.perf(
            db, meta_ad_id, DAY0 + dt.timedelta(days=d), impressions=1000, clicks=clicks,
            purchases=1, value=30.0, brand_id=brand,
        )  # fmt: skip


def _reward(db: psycopg.Connection, ad: uuid.UUID) -> tuple | None:
    return db.execute(
        "SELECT total_impressions, total_clicks, reward_score FROM genome.creative_element_rewards "
        "WHERE generated_ad_id = %s",
        (ad,),
    ).fetchone()


def test_mapping_to_another_brands_meta_ad_reads_nothing(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    f.link(db, b.ad, "meta-b")
    _insights(db, "meta-b", b.brand, clicks=20)
    with session(db_dsn, "genome_app", a.organization) as app:
        app.execute(
            "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_campaign_id, "
            "linked_by) VALUES (%s, 'meta-b', 'c1', 'manual')",
            (a.ad,),
        )
    db.execute("SELECT genome.collect_rewards(%s)", (LATER,))
    db.execute("SELECT genome.detect_fatigue(%s)", (LATER,))
    assert _reward(db, b.ad) is not None
    assert _reward(db, a.ad) is None
    assert db.execute(
        "SELECT count(*) FROM genome.ad_fatigue WHERE generated_ad_id = %s", (a.ad,)
    ).fetchone()[0] == 0  # fmt: skip
    with session(db_dsn, "genome_app", a.organization) as app:
        # A mapping that claims another brand is refused outright.
        with pytest.raises(psycopg.Error) as exc:
            app.execute(
                "UPDATE meta_ad_mapping SET brand_id = %s WHERE generated_ad_id = %s",
                (b.brand, a.ad),
            )
        assert exc.value.sqlstate == "GN951"


def test_mapping_to_another_brands_meta_ad_feeds_no_experiment(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    f.link(db, b.ad, "meta-b")
    _insights(db, "meta-b", b.brand, clicks=20)
    start = f.at(DAY0)
    exp = db.execute(
        "SELECT genome.propose_experiment(%s, %s, 'hook_type', 'curiosity_gap', "
        "ARRAY['social_proof'], 'social proof wins', 100000::numeric, 14, p_now => %s)",
        (a.brand, a.product, start),
    ).fetchone()[0]
    db.execute("SELECT genome.start_experiment(%s, NULL, %s)", (exp, start))
    arms = db.execute(
        "SELECT generated_ad_id FROM genome.experiment_arms WHERE experiment_id = %s", (exp,)
    ).fetchall()
    with session(db_dsn, "genome_app", a.organization) as app:
        for (ad,) in arms:
            app.execute(
                "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_campaign_id) "
                "VALUES (%s, 'meta-b', 'c1')",
                (ad,),
            )
    db.execute("SELECT genome.analyze_experiments(%s)", (start + dt.timedelta(days=5),))
    totals = db.execute(
        "SELECT coalesce(total_impressions, 0) FROM genome.experiment_arms "
        "WHERE experiment_id = %s",
        (exp,),
    ).fetchall()
    assert totals == [(0,), (0,)]


def test_performance_row_for_another_brands_meta_ad_changes_nothing(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    f.link(db, b.ad, "meta-b")
    day = DAY0 + dt.timedelta(days=14)
    with session(db_dsn, "genome_app", a.organization) as app:
        for d in range(15):
            app.execute(
                "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, "
                "meta_campaign_id, date, impressions, link_clicks, spend, purchases, "
                "purchase_value, brand_id) VALUES ('acct', 'meta-b', 'c1', %s, 1000, 900, 1, "
                "500, 99999, %s)",
                (DAY0 + dt.timedelta(days=d), a.brand),
            )
    _insights(db, "meta-b", b.brand, clicks=20)
    with session(db_dsn, "genome_app", b.organization) as app:
        # B's own row for the day A wrote first goes in.
        app.execute(
            "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id, "
            "date, impressions, link_clicks, spend, purchases, purchase_value, brand_id) "
            "VALUES ('acct', 'meta-b', 'c1', %s, 1000, 20, 10, 1, 30, %s)",
            (day, b.brand),
        )
    db.execute("SELECT genome.collect_rewards(%s)", (LATER,))
    impressions, clicks, _ = _reward(db, b.ad)
    assert (impressions, clicks) == (15 * 1000, 15 * 20)


def test_keys_on_app_ids_are_per_tenant(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    db.execute("UPDATE brands SET slug = 'glow' WHERE id = %s", (b.brand,))
    db.execute(
        "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, brand_id) "
        "VALUES ('acct-b', 'camp-b', %s)",
        (b.brand,),
    )
    with session(db_dsn, "genome_app", a.organization) as app:
        app.execute(
            "INSERT INTO brands (organization_id, name, slug) VALUES (%s, 'Glow', 'glow')",
            (a.organization,),
        )
        app.execute(
            "INSERT INTO meta_campaigns (meta_ad_account_id, meta_campaign_id, brand_id) "
            "VALUES ('acct-b', 'camp-b', %s)",
            (a.brand,),
        )
        # A Meta ad id taken first in an unlinked mapping blocks no other brand.
        app.execute(
            "INSERT INTO meta_ad_mapping (brand_id, meta_ad_id, meta_campaign_id) "
            "VALUES (%s, 'meta-b', 'camp-b')",
            (a.brand,),
        )
    with session(db_dsn, "genome_app", b.organization) as app:
        app.execute(
            "INSERT INTO meta_ad_mapping (brand_id, meta_ad_id, meta_campaign_id) "
            "VALUES (%s, 'meta-b', 'camp-b')",
            (b.brand,),
        )


def test_parent_in_another_organization_is_refused(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    b_config = db.execute(
        "SELECT id FROM genome.quality_scoring_config WHERE organization_id = %s LIMIT 1",
        (b.organization,),
    ).fetchone()[0]
    with session(db_dsn, "genome_app", a.organization) as app:
        for parent in (b.ad, uuid.uuid4()):
            with pytest.raises(psycopg.Error) as exc:
                app.execute(
                    "UPDATE generated_ads SET parent_ad_id = %s WHERE id = %s", (parent, a.ad)
                )
            assert exc.value.sqlstate == "GN951"
            with pytest.raises(psycopg.Error) as exc:
                app.execute(
                    "INSERT INTO genome.quality_scoring_config (organization_id, version, "
                    "check_weights, check_thresholds, parent_config_id) "
                    "VALUES (%s, 'mine', '{}', '{}', %s)",
                    (a.organization, parent if parent != b.ad else b_config),
                )
            assert exc.value.sqlstate == "GN951"
    # B can still delete its own ad.
    db.execute("DELETE FROM generated_ads WHERE id = %s", (b.ad,))


def test_app_reads_no_platform_wide_counts(db_dsn: str, orgs: tuple[Org, Org]) -> None:
    a, _ = orgs
    with session(db_dsn, "genome_app", a.organization) as app:
        for sql in (
            "SELECT result FROM genome.job_runs",
            "SELECT last_value FROM genome.genome_version_seq",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)


def test_generate_job_for_an_unplanned_ad_is_refused(db_dsn: str, orgs: tuple[Org, Org]) -> None:
    a, _ = orgs
    with session(db_dsn, "genome_app", a.organization) as app:
        app.execute("UPDATE ad_runs SET max_attempts = 1 WHERE id = %s", (a.run,))
        app.execute("SELECT genome.plan_ads(%s, 1, %s)", (a.run, LATER))
        direct = app.execute(
            "INSERT INTO generated_ads (ad_run_id, prompt_index) VALUES (%s, 60) RETURNING id",
            (a.run,),
        ).fetchone()[0]
        with pytest.raises(psycopg.Error) as exc:
            app.execute("SELECT genome.enqueue_job('generate', %s)", (direct,))
        assert exc.value.sqlstate == "GN012"


def test_one_organization_cannot_fill_the_queue(
    db: psycopg.Connection, db_dsn: str, orgs: tuple[Org, Org]
) -> None:
    a, b = orgs
    db.execute(
        "UPDATE genome.settings SET value = '3' WHERE key = 'max_queued_jobs_per_organization'"
    )
    with session(db_dsn, "genome_app", a.organization) as app:
        app.execute("SELECT genome.plan_ads(%s, 3, %s)", (a.run, LATER))
        with pytest.raises(psycopg.Error) as exc:
            app.execute("SELECT genome.plan_ads(%s, 1, %s)", (a.run, LATER))
        assert exc.value.sqlstate == "GN414"
        with pytest.raises(psycopg.Error) as exc:
            app.execute("SELECT genome.enqueue_job('embed', %s)", (a.ad,))
        assert exc.value.sqlstate == "GN414"
    with session(db_dsn, "genome_app", b.organization) as app:
        assert len(app.execute("SELECT genome.plan_ads(%s, 3, %s)", (b.run, LATER)).fetchall()) == 3


def test_huge_override_reason_is_refused(db_dsn: str, orgs: tuple[Org, Org]) -> None:
    a, _ = orgs
    with session(db_dsn, "genome_app", a.organization) as app:
        with pytest.raises(psycopg.Error) as exc:
            app.execute(
                "SELECT genome.record_override(%s, 'rejected', %s, %s, 'qa', %s)",
                (a.ad, "x" * (2 << 20), Jsonb({}), LATER),
            )
        assert exc.value.sqlstate == "GN413"
