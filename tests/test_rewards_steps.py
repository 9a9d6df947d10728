"""The steps of genome.collect_rewards, each called on its own (docs/rewards.md)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from sim import factories as f

D0 = dt.date(2026, 3, 2)
TAGS = {"hook_type": "curiosity_gap", "color_mode": "brand", "awareness_stage": "problem_aware"}
OBJECTIVE = "CONVERSIONS"


def _ad(db, brand_id=None, tags=TAGS):
    b = brand_id or f.brand(db)
    return b, f.ad(db, f.ad_run(db, f.product(db, b)), tags)


def _days(db, meta, n, start=D0, **kw):
    for i in range(n):
        f.perf(db, meta, start + dt.timedelta(days=i), **kw)


def test_backfill_tags_step_tags_v1_ads_once(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    run = db.execute(
        "INSERT INTO ad_runs (product_id, parameters) VALUES (%s, %s) RETURNING id",
        (p, '{"hook_type": "fomo", "belief_angle": "made-up"}'),
    ).fetchone()[0]
    v1 = db.execute(
        "INSERT INTO generated_ads (ad_run_id, prompt_index, color_mode) "
        "VALUES (%s, 1, 'brand_colors') RETURNING id",
        (run,),
    ).fetchone()[0]
    planned = f.ad(db, run, TAGS)
    step = "SELECT genome._collect_rewards_backfill_tags()"
    assert db.execute(step).fetchone()[0] == 1
    tags = "SELECT element_tags, element_tags_source FROM generated_ads WHERE id = %s"
    # Resolved through the registry; a value outside it is dropped, never invented.
    assert db.execute(tags, (v1,)).fetchone() == (
        {"hook_type": "fear_of_missing_out", "color_mode": "brand"},
        "backfilled",
    )
    assert db.execute(tags, (planned,)).fetchone() == (TAGS, "plan")
    # Backfilled once: a second call finds nothing left to derive.
    assert db.execute(step).fetchone()[0] == 0


def test_links_step_mapping_first_then_ad_name(db: psycopg.Connection) -> None:
    _, mapped = _ad(db)
    _, named = _ad(db)
    _, claimed = _ad(db)
    f.link(db, mapped, "meta-mapped")
    f.link(db, mapped, "meta-claimed")
    # The ad name names an ad, but only a Meta ad no mapping row claims falls back to it.
    f.perf(db, "meta-named", D0, impressions=10, clicks=1, ad_name=f"spring {named}")
    f.perf(db, "meta-claimed", D0, impressions=10, clicks=1, ad_name=f"spring {claimed}")
    f.perf(
        db, "meta-later", D0 + dt.timedelta(days=5), impressions=10, clicks=1, ad_name=str(named)
    )
    links = sorted(
        (str(r[0]), r[1], r[2])
        for r in db.execute("SELECT * FROM genome._collect_rewards_links(%s)", (D0,)).fetchall()
    )
    assert links == sorted(
        [
            (str(mapped), "meta-mapped", "mapping"),
            (str(mapped), "meta-claimed", "mapping"),
            (str(named), "meta-named", "ad_name"),
        ]
    )


def test_ads_step_totals_objective_and_horizon(db: psycopg.Connection) -> None:
    b, ad = _ad(db)
    meta = f.link(db, ad)
    f.perf(db, meta, D0, impressions=0, clicks=0)
    _days(db, meta, 3, start=D0 + dt.timedelta(days=1), impressions=100, clicks=4, purchases=1)
    _, silent = _ad(db)
    f.perf(db, f.link(db, silent), D0, impressions=0, clicks=0)
    today = D0 + dt.timedelta(days=6)
    rows = db.execute(
        "SELECT generated_ad_id, path, first_date, last_date, impressions, clicks, purchases, "
        "spend, brand_id, raw_objective, reward_objective, objective_mapped, age_days "
        "FROM genome._collect_rewards_ads(%s, %s, 'awareness')",
        (today, D0),
    ).fetchall()
    # An ad without an impression has nothing to score.
    assert rows == [
        (
            ad,
            "mapping",
            D0 + dt.timedelta(days=1),
            D0 + dt.timedelta(days=3),
            300,
            12,
            3,
            pytest.approx(40.0),
            b,
            "OUTCOME_SALES",
            OBJECTIVE,
            True,
            5,
        )
    ]
    # Data that ended before the horizon can no longer change, unless the ad has no reward yet.
    later = D0 + dt.timedelta(days=4)
    assert (
        len(
            db.execute(
                "SELECT * FROM genome._collect_rewards_ads(%s, %s, 'x')", (today, later)
            ).fetchall()
        )
        == 1
    )
    f.reward(db, ad, 0.5, f.at(today))
    assert (
        db.execute(
            "SELECT * FROM genome._collect_rewards_ads(%s, %s, 'x')", (today, later)
        ).fetchall()
        == []
    )


def test_baseline_step_prefers_cohort_then_all(db: psycopg.Connection) -> None:
    b = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    ids = dict(
        db.execute(
            "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level, "
            "creative_format, campaign_objective, p25_ctr, p75_ctr) VALUES "
            "(%(o)s, %(b)s, 'all', 'image', 'all', 0.010, 0.030), "
            "(%(o)s, %(b)s, 'problem_aware', 'image', 'all', 0.020, 0.040), "
            "(%(o)s, %(b)s, 'all', 'image', 'CONVERSIONS', 0.015, 0.035) "
            "RETURNING awareness_level || '/' || campaign_objective, id",
            {"o": org, "b": b},
        ).fetchall()
    )

    def pick(stage, raw, reward, brand=b):
        row = db.execute(
            "SELECT id FROM genome._collect_rewards_baseline(%s, %s, %s, %s)",
            (brand, stage, raw, reward),
        ).fetchone()
        return row and row[0]

    assert pick("problem_aware", "OUTCOME_SALES", "CONVERSIONS") == ids["problem_aware/all"]
    assert pick("unaware", "OUTCOME_SALES", "CONVERSIONS") == ids["all/CONVERSIONS"]
    assert pick("unaware", None, "awareness") == ids["all/all"]
    assert pick("problem_aware", None, "awareness", brand=f.brand(db)) is None


def test_scores_step_normalizes_and_leaves_out_unmatured(db: psycopg.Connection) -> None:
    _, ad = _ad(db)
    meta = f.link(db, ad)
    _days(db, meta, 4, impressions=1000, clicks=20, purchases=0, value=0.0)
    today = D0 + dt.timedelta(days=4)
    rows = db.execute(
        "SELECT generated_ad_id, reward_score, reward_components, impressions, clicks, raw_ctr, path "
        "FROM genome._collect_rewards_scores(%s, %s, 'awareness')",
        (today, D0),
    ).fetchall()
    assert len(rows) == 1
    got, score, comp, impressions, clicks, raw_ctr, path = rows[0]
    assert (got, impressions, clicks, path) == (ad, 4000, 80, "mapping")
    assert raw_ctr == pytest.approx(0.02)
    # Only the components that matured count, their weights redistributed over them.
    included = comp["components"]
    assert included and set(comp["left_out"]).isdisjoint(included)
    assert sum(c["effective_weight"] for c in included.values()) == pytest.approx(1.0)
    assert score == pytest.approx(
        sum(c["effective_weight"] * c["normalized"] for c in included.values())
    )
    assert comp["objective"] == OBJECTIVE and comp["age_days"] == 4
    # Nothing is written by the scoring step.
    assert db.execute("SELECT count(*) FROM genome.creative_element_rewards").fetchone()[0] == 0


def test_record_step_inserts_then_revises_with_history(db: psycopg.Connection) -> None:
    _, ad = _ad(db)
    meta = f.link(db, ad)
    _days(db, meta, 4, impressions=1000, clicks=2)
    today = D0 + dt.timedelta(days=4)
    now = f.at(today)
    args = (now, today, D0, "awareness")
    record = "SELECT genome._collect_rewards_record(%s, %s, %s, %s)"
    assert db.execute(record, args).fetchone()[0] == 1
    assert db.execute(record, args).fetchone()[0] == 0  # nothing changed
    first = db.execute(
        "SELECT reward_score, revision, matured_at FROM genome.creative_element_rewards "
        "WHERE generated_ad_id = %s",
        (ad,),
    ).fetchone()
    assert first[1:] == (1, now)
    f.perf(db, meta, D0, impressions=1000, clicks=200)  # Meta restates a day
    later = now + dt.timedelta(hours=1)
    assert db.execute(record, (later, *args[1:])).fetchone()[0] == 1
    revised = db.execute(
        "SELECT reward_score, revision, matured_at, revised_at FROM genome.creative_element_rewards "
        "WHERE generated_ad_id = %s",
        (ad,),
    ).fetchone()
    assert revised[0] > first[0]
    assert revised[1:] == (2, now, later)
    history = db.execute(
        "SELECT revision, reward_score, valid_from, valid_to "
        "FROM genome.creative_element_reward_history WHERE generated_ad_id = %s",
        (ad,),
    ).fetchall()
    assert history == [(1, pytest.approx(first[0]), now, later)]


def test_ads_step_sums_every_link_of_an_open_ad(db: psycopg.Connection) -> None:
    # An ad still delivering through one Meta ad keeps the rows of another that ended
    # before the horizon in its totals; an ad whose every link ended there is not read.
    _, ad = _ad(db)
    old = f.link(db, ad, f"meta-old-{ad}")
    new = f.link(db, ad, f"meta-new-{ad}")
    _days(db, old, 2, start=D0, impressions=100, clicks=5)
    _days(db, new, 2, start=D0 + dt.timedelta(days=5), impressions=50, clicks=1)
    _, closed = _ad(db)
    _days(db, f.link(db, closed), 2, start=D0, impressions=70, clicks=2)
    today = D0 + dt.timedelta(days=8)
    for a in (ad, closed):
        f.reward(db, a, 0.5, f.at(today))
    rows = db.execute(
        "SELECT generated_ad_id, first_date, last_date, impressions, clicks "
        "FROM genome._collect_rewards_ads(%s, %s, 'x')",
        (today, D0 + dt.timedelta(days=4)),
    ).fetchall()
    assert rows == [(ad, D0, D0 + dt.timedelta(days=6), 300, 12)]
