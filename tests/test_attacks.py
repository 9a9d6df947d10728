"""Attacks on the system, each performed as the attacking role (genome_app with an
organization set, genome_agent, or the owner against the dashboard); each test fails if the
attack works again. The catalogue is docs/attacks.md."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from agents.listener import CHANNEL, Listener
from agents.settings import DASHBOARD_ROLE
from sim import factories as f
from tests.support.pipeline import call, claim, make_ads, make_product
from tests.support.security import login_dsn, run_agents_until_idle, session

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


# ----- agents and the queue (docs/attacks.md#agents-and-the-queue) ----------------------

PASSWD_FIRST_LINE = Path("/etc/passwd").read_text().splitlines()[0]


def _refused(conn: psycopg.Connection, sql: str, args: tuple, code: str) -> str:
    """Run sql, expect SQLSTATE code; return the error message."""
    with pytest.raises(psycopg.Error) as err:
        conn.execute(sql, args)
    assert err.value.sqlstate == code, (sql, err.value.sqlstate, str(err.value))
    return str(err.value)


def test_app_cannot_point_storage_path_outside_its_folder(
    db: psycopg.Connection, db_dsn: str
) -> None:
    mine, theirs = make_product(db, "Mine"), make_product(db, "Theirs")
    ad = make_ads(db, mine["product"], 1, enqueue=False)[0]
    org, other = mine["organization"], theirs["organization"]
    with session(db_dsn, "genome_app", org) as app:
        for path in [
            "/etc/passwd",
            "../../etc/passwd",
            f"{org}/../../etc/passwd",
            f"{org}/..",
            "file:///etc/passwd",
            f"/work/out/storage/{other}/x.png",  # absolute, inside another org's folder
            f"{other}/x.png",  # another org's key
            f"{org}/sub/x.png",
            f"{org}/.hidden",
            # store URIs (docs/operations.md#image-storage): only of plain segments, ending
            # in a key of the ad's organization
            f"s3://bucket/{other}/x.png",
            f"s3://bucket/p/{org}/../{org}/x.png",
            f"s3://bucket/p%2F/{org}/x.png",
            f"s3://bucket/{org}/x.png?versionId=1",
            f"S3://bucket/{org}/x.png",
            f"s3://Bucket_/{org}/x.png",
            f"http://host/{org}/x.png",
            f"file://host/{org}/x.png",
            f"file:///etc/{org}/x.png/",
        ]:
            _refused(
                app,
                "UPDATE generated_ads SET storage_path = %s WHERE id = %s",
                (path, ad),
                "GN423",
            )
        for path in [f"s3://genome-images/ads/{org}/x.png", f"file:///srv/img/{org}/x.png"]:
            app.execute("UPDATE generated_ads SET storage_path = %s WHERE id = %s", (path, ad))
        app.execute(
            "UPDATE generated_ads SET storage_path = %s WHERE id = %s", (f"{org}/x.png", ad)
        )
    assert db.execute("SELECT storage_path FROM generated_ads WHERE id = %s", (ad,)).fetchone()[
        0
    ] == (f"{org}/x.png")


def test_agent_cannot_record_a_storage_path_outside_the_ads_folder(
    db: psycopg.Connection, db_dsn: str
) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    with session(db_dsn, "genome_agent") as agent:
        job, token = agent.execute(
            "SELECT id, lease_token FROM genome.claim_jobs(ARRAY['generate'], 'w1', '1 minute', 1)"
        ).fetchone()
        _refused(
            agent,
            "SELECT genome.record_generation(%s, 'w1', '/etc/passwd', 'p', %s, p_lease_token => %s)",
            (job, json.dumps(call("generate", "google")), token),
            "GN423",
        )


def test_agent_reads_no_file_outside_its_storage_root(
    db: psycopg.Connection, db_dsn: str, tmp_path: Path
) -> None:
    """Rows the owner forced (the SQL check does not bind the owner): the agent still
    refuses every path outside its root, and the error neither copies file bytes nor tells
    a refused path from a missing file."""
    p = make_product(db)
    org = p["organization"]
    storage = tmp_path / "img"
    (storage / str(org)).mkdir(parents=True)
    (storage / str(org) / "escape.png").symlink_to("/etc/passwd")
    paths = [
        "/etc/passwd",
        "../../../../../../etc/passwd",
        f"{org}/escape.png",  # a key, but a symlink leading out of the root
        f"{org}/missing.png",  # a key naming no file
    ]
    ads = make_ads(db, p["product"], len(paths), enqueue=False)
    for ad, path in zip(ads, paths, strict=True):
        db.execute("UPDATE generated_ads SET storage_path = %s WHERE id = %s", (path, ad))
        db.execute("SELECT genome.enqueue_job('defect_scan', %s)", (ad,))
    db.execute("UPDATE genome.agent_jobs SET max_attempts = 1")
    run_agents_until_idle(db_dsn, storage)
    errors = db.execute(
        "SELECT status, last_error, errors::text FROM genome.agent_jobs "
        "WHERE generated_ad_id = ANY(%s)",
        (ads,),
    ).fetchall()
    assert len(errors) == len(paths)
    assert {e[0] for e in errors} == {"dead"}
    # One generic message for every case: no existence probe, no file content.
    assert len({e[1] for e in errors}) == 1, errors
    for _, last_error, all_errors in errors:
        assert "not available" in last_error
        for text in (last_error, all_errors):
            assert PASSWD_FIRST_LINE not in text and "root:" not in text
            assert "passwd" not in text


def test_lease_errors_name_no_other_worker(db: psycopg.Connection, db_dsn: str) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 2)
    victim = "prod-agent-1:4242:9f8e7d6c"
    with session(db_dsn, "genome_agent") as agent:
        job = agent.execute(
            "SELECT id FROM genome.claim_jobs(ARRAY['generate'], %s, '1 minute', 1)", (victim,)
        ).fetchone()[0]
        messages = [
            _refused(agent, "SELECT genome.job_context(%s, 'intruder')", (job,), "GN404"),
            _refused(
                agent,
                "SELECT genome.record_generation(%s, 'intruder', %s, 'p', %s)",
                (job, f"{p['organization']}/x.png", json.dumps(call("generate", "google"))),
                "GN404",
            ),
            _refused(agent, "SELECT genome.complete_job(%s, 'intruder')", (job,), "GN404"),
            _refused(agent, "SELECT genome.fail_job(%s, 'intruder', 'x')", (job,), "GN404"),
        ]
        for message in messages:
            assert victim not in message and "prod-agent" not in message, message
        assert not agent.execute(
            "SELECT genome.heartbeat_job(%s, 'intruder', '1 minute')", (job,)
        ).fetchone()[0]
        assert not agent.execute("SELECT genome.release_job(%s, 'intruder')", (job,)).fetchone()[0]
    # Still the victim's.
    assert db.execute("SELECT leased_by FROM genome.agent_jobs WHERE id = %s", (job,)).fetchone()[
        0
    ] == (victim)


def test_a_worker_name_without_its_lease_token_is_refused(
    db: psycopg.Connection, db_dsn: str
) -> None:
    """Agent B knows agent A's worker name (names are no secret) but not the token A's claim
    returned: every call on A's job is refused as a lease not held (GN404), and the job, its
    ad and its attempts are as they were."""
    p = make_product(db)
    ad = make_ads(db, p["product"], 1)[0]
    victim = "prod-agent-1:4242:9f8e7d6c"
    snapshot = (
        "SELECT j.status, j.leased_by, j.leased_until, j.attempts, j.errors::text, j.result, "
        "j.lease_token, g.storage_path, g.final_status, "
        "(SELECT count(*) FROM genome.agent_job_attempts AS a WHERE a.agent_job_id = j.id), "
        "(SELECT count(*) FROM genome.agent_jobs) "
        "FROM genome.agent_jobs AS j JOIN generated_ads AS g ON g.id = j.generated_ad_id "
        "WHERE j.id = %s"
    )
    with session(db_dsn, "genome_agent") as a, session(db_dsn, "genome_agent") as b:
        job, token = a.execute(
            "SELECT id, lease_token FROM genome.claim_jobs(ARRAY['generate'], %s, '1 minute', 1)",
            (victim,),
        ).fetchone()
        assert token is not None
        before = db.execute(snapshot, (job,)).fetchone()
        generation = (
            job,
            victim,
            f"{p['organization']}/x.png",
            json.dumps(call("generate", "google")),
        )
        for guess in (None, uuid.uuid4()):
            for sql, args in [
                ("SELECT genome.job_context(%s, %s, p_lease_token => %s)", (job, victim)),
                (
                    "SELECT genome.record_generation(%s, %s, %s, 'p', %s, p_lease_token => %s)",
                    generation,
                ),
                ("SELECT genome.complete_job(%s, %s, p_lease_token => %s)", (job, victim)),
                ("SELECT genome.fail_job(%s, %s, 'x', p_lease_token => %s)", (job, victim)),
            ]:
                _refused(b, sql, (*args, guess), "GN404")
            assert not b.execute(
                "SELECT genome.heartbeat_job(%s, %s, '1 minute', p_lease_token => %s)",
                (job, victim, guess),
            ).fetchone()[0]
            assert not b.execute(
                "SELECT genome.release_job(%s, %s, p_lease_token => %s)", (job, victim, guess)
            ).fetchone()[0]
        assert db.execute(snapshot, (job,)).fetchone() == before
        # A, with its token, still holds the job.
        context = a.execute(
            "SELECT genome.job_context(%s, %s, p_lease_token => %s)", (job, victim, token)
        ).fetchone()[0]
        assert context["ad"]["id"] == str(ad)
        a.execute(
            "SELECT genome.record_generation(%s, %s, %s, 'p', %s, p_lease_token => %s)",
            (*generation, token),
        )
    assert db.execute("SELECT status FROM genome.agent_jobs WHERE id = %s", (job,)).fetchone()[
        0
    ] == ("succeeded")
    # The app reads its organization's jobs, never their tokens.
    with session(db_dsn, "genome_app", p["organization"]) as app:
        assert app.execute("SELECT count(id) FROM genome.agent_jobs").fetchone()[0] >= 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT lease_token FROM genome.agent_jobs")


def test_a_reclaimed_job_names_no_earlier_worker(db: psycopg.Connection, db_dsn: str) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    victim = "prod-agent-1:4242:9f8e7d6c"
    job = claim(db, "generate", victim)
    db.execute("SELECT genome.fail_job(%s, %s, 'boom')", (job["id"], victim))
    db.execute("UPDATE genome.agent_jobs SET run_after = now() - interval '1 second'")
    with session(db_dsn, "genome_agent") as agent:
        rows = (
            agent.cursor(row_factory=dict_row)
            .execute("SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'next', '1 minute', 1)")
            .fetchall()
        )
        assert [r["id"] for r in rows] == [job["id"]]
        assert victim not in json.dumps(rows, default=str)
        context = agent.execute(
            "SELECT genome.job_context(%s, 'next', p_lease_token => %s)",
            (job["id"], rows[0]["lease_token"]),
        ).fetchone()
        assert victim not in json.dumps(context, default=str)


def test_agent_cannot_play_clock_or_lease_games(db: psycopg.Connection, db_dsn: str) -> None:
    p = make_product(db)
    ads = make_ads(db, p["product"], 3)
    live = claim(db, "generate", "honest", "2 minutes")
    far = "2200-01-01"
    with session(db_dsn, "genome_agent") as agent:
        _refused(agent, "SELECT genome.reap_jobs(%s)", (far,), "GN420")
        _refused(
            agent,
            "SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1, %s)",
            (far,),
            "GN420",
        )
        _refused(
            agent,
            "SELECT * FROM genome.claim_jobs(ARRAY['generate'], 'w', '1000 years', 1)",
            (),
            "GN421",
        )
        mine = agent.execute(
            "SELECT id FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1)"
        ).fetchone()[0]
        _refused(agent, "SELECT genome.heartbeat_job(%s, 'w', '1000 years')", (mine,), "GN421")
        _refused(
            agent, "SELECT genome.heartbeat_job(%s, 'w', '1 minute', %s)", (mine, far), "GN420"
        )
        # A failure in 2200 would schedule the retry in 2200.
        _refused(agent, "SELECT genome.fail_job(%s, 'w', 'x', %s)", (mine, far), "GN420")
        _refused(agent, "SELECT genome.release_job(%s, 'w', %s)", (mine, far), "GN420")
        assert agent.execute("SELECT genome.reap_jobs()").fetchone()[0] == 0
    row = db.execute(
        "SELECT status, leased_by FROM genome.agent_jobs WHERE id = %s", (live["id"],)
    ).fetchone()
    assert row == ("running", "honest")
    assert (
        db.execute(
            "SELECT count(*) FROM genome.agent_jobs WHERE status = 'dead' OR run_after > now() + interval '1 day'"
        ).fetchone()[0]
        == 0
    )
    # The app cannot park a job in the far future either.
    with session(db_dsn, "genome_app", p["organization"]) as app:
        _refused(app, "SELECT genome.enqueue_job('review', %s, '{}', %s)", (ads[0], far), "GN422")


def test_a_reaped_job_goes_ahead_of_the_backlog(db: psycopg.Connection) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 6)
    dead = claim(db, "generate", "killed-agent", "1 second")
    # The killed agent's lease runs out; the reaper (owner, virtual time) returns the job.
    assert db.execute("SELECT genome.reap_jobs(now() + interval '2 minutes')").fetchone()[0] == 1
    first = db.execute(
        "SELECT id FROM genome.claim_jobs(ARRAY['generate'], 'w', '1 minute', 1, "
        "now() + interval '3 minutes')"
    ).fetchone()[0]
    assert first == dead["id"]


def _listener(dsn: str, kinds: list[str], cls: type[Listener] = Listener) -> tuple:
    wake, stop = threading.Event(), threading.Event()
    listener = cls(dsn, kinds, wake, stop, probe_interval=30.0, max_backoff=0.5)
    listener.start()
    assert listener.connected.wait(10)
    assert wake.wait(5)  # woken once on connect
    return listener, wake, stop


def test_listener_survives_hostile_notifications(db: psycopg.Connection, db_dsn: str) -> None:
    """Anyone may NOTIFY the channel; the listener must keep waking its agent."""
    listener, wake, stop = _listener(db_dsn, ["generate"])
    try:
        hostile = [
            '{"kind": []}',
            '{"kind": {}}',
            '{"kind": null}',
            "[]",
            "null",
            '"x"',
            "1e999999",
            "[" * 7000,
            "\\u0000",
            "",
        ]
        with session(db_dsn, "genome_app", uuid.uuid4()) as app:
            for payload in hostile:
                app.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        time.sleep(1.0)
        assert listener.is_alive()
        wake.clear()
        # Another kind's job does not wake it; one of its kinds does, through NOTIFY (the
        # probe interval is 30 s and nothing polls here).
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"kind": "embed"})))
        assert not wake.wait(1.0)
        p = make_product(db)
        make_ads(db, p["product"], 1)
        assert wake.wait(5.0)
        assert listener.is_alive()
    finally:
        stop.set()
        listener.join(10)


class _FlakyListener(Listener):
    """Raises a non-database error on its first notification."""

    failed = False

    def _wanted(self, payload: str) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug in the listening loop")
        return super()._wanted(payload)


def test_listener_restarts_after_any_exception(db: psycopg.Connection, db_dsn: str) -> None:
    listener, wake, stop = _listener(db_dsn, ["generate"], _FlakyListener)
    try:
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"kind": "generate"})))
        deadline = time.monotonic() + 10
        while listener.reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listener.is_alive() and listener.reconnects == 1
        assert listener.connected.wait(10)
        wake.clear()
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"kind": "generate"})))
        assert wake.wait(5.0)
    finally:
        stop.set()
        listener.join(10)


# ----- end of agents and the queue -------------------------------------------------------


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


def test_no_app_or_agent_role_executes_an_internal_helper(db: psycopg.Connection) -> None:
    """Every genome function whose name starts with `_`: neither genome_app nor genome_agent,
    nor a login role in either, nor the dashboard, may execute it. The app's API functions
    are SECURITY DEFINER as genome_api, which alone runs the helpers they call."""
    suffix = uuid.uuid4().hex[:8]
    logins = [f"attack_app_{suffix}", f"attack_agent_{suffix}"]
    db.execute(f'CREATE ROLE "{logins[0]}" LOGIN IN ROLE genome_app')
    db.execute(f'CREATE ROLE "{logins[1]}" LOGIN IN ROLE genome_agent')
    try:
        helpers = _helpers(db)
        assert len(helpers) > 40
        roles = ["genome_app", "genome_agent", DASHBOARD_ROLE, *logins]
        executable = db.execute(
            "SELECT r, h FROM unnest(%s::text[]) AS r, unnest(%s::text[]) AS h"
            " WHERE has_function_privilege(r, h::regprocedure, 'EXECUTE')",
            (roles, [sig for _name, sig in helpers]),
        ).fetchall()
        assert executable == []
    finally:
        for login in logins:
            db.execute(f'DROP ROLE "{login}"')


def test_api_role_executes_only_the_helpers_its_functions_call(db: psycopg.Connection) -> None:
    """genome_api runs a `_` helper only when a function it may execute calls it; the
    scheduled jobs' numeric cores are not among them."""
    bodies = db.execute(
        "SELECT p.proname::text, p.prosrc FROM pg_proc AS p"
        " WHERE p.pronamespace = 'genome'::regnamespace"
        " AND has_function_privilege('genome_api', p.oid, 'EXECUTE')"
    ).fetchall()
    called = {name for _fn, src in bodies for name in GENOME_CALL.findall(src)}
    executable = {
        name
        for name, sig in _helpers(db)
        if db.execute(
            "SELECT has_function_privilege('genome_api', %s, 'EXECUTE')", (sig,)
        ).fetchone()[0]
    }
    assert executable and executable - called == set()
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
    # as the API functions that call them run (style_clusters, the value of information)
    with session(db_dsn, "genome_api", org) as app:
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
