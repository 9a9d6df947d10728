"""genome.collect_rewards: maturation, normalization, objectives, revisions, attribution."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest

from sim import factories as f

D0 = dt.date(2026, 3, 2)
TAGS = {"hook_type": "curiosity_gap", "color_mode": "brand", "awareness_stage": "problem_aware"}


def _setup(
    db: psycopg.Connection, tags: dict[str, str] | None = None
) -> tuple[uuid.UUID, uuid.UUID, str]:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    ad = f.ad(db, run, tags or TAGS)
    return b, ad, f.link(db, ad)


def _reward(db: psycopg.Connection, ad: uuid.UUID) -> dict | None:
    row = db.execute(
        "SELECT reward_score, reward_components, revision, attribution_path, reward_objective "
        "FROM genome.creative_element_rewards WHERE generated_ad_id = %s",
        (ad,),
    ).fetchone()
    if row is None:
        return None
    return dict(zip(["score", "components", "revision", "path", "objective"], row, strict=True))


def _days(db, meta, n, impressions=300, clicks=4, purchases=0, value=0.0, spend=10.0, **kw):
    for i in range(n):
        f.perf(
            db,
            meta,
            D0 + dt.timedelta(days=i),
            impressions=impressions,
            clicks=clicks,
            purchases=purchases,
            value=value,
            spend=spend,
            **kw,
        )


def test_ctr_matures_on_day_three_not_two(db: psycopg.Connection) -> None:
    _, ad, meta = _setup(db)
    _days(db, meta, 3)
    assert (
        db.execute(
            "SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=2)),)
        ).fetchone()[0]
        == 0
    )
    assert _reward(db, ad) is None
    assert (
        db.execute(
            "SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=3)),)
        ).fetchone()[0]
        == 1
    )
    r = _reward(db, ad)
    # Built from CTR alone, and recorded as such.
    assert set(r["components"]["components"]) == {"ctr"}
    assert set(r["components"]["left_out"]) == {"conversion_rate", "roas"}
    assert r["components"]["left_out"]["roas"].startswith("not matured")
    assert r["components"]["redistributed_weight"] == pytest.approx(0.8)
    ctr = 12 / 900
    expected = min(1.0, max(0.0, (ctr - 0.008) / (0.018 - 0.008)))
    assert r["score"] == pytest.approx(expected)
    assert r["components"]["components"]["ctr"]["effective_weight"] == pytest.approx(1.0)
    assert r["components"]["components"]["ctr"]["baseline"] == "default"


def test_minimum_impressions_499_vs_500(db: psycopg.Connection) -> None:
    _, ad, meta = _setup(db)
    f.perf(db, meta, D0, impressions=499, clicks=5)
    now = f.at(D0 + dt.timedelta(days=5))
    db.execute("SELECT genome.collect_rewards(%s)", (now,))
    assert _reward(db, ad) is None
    f.perf(db, meta, D0, impressions=500, clicks=5)
    db.execute("SELECT genome.collect_rewards(%s)", (now,))
    r = _reward(db, ad)
    assert r is not None
    assert r["score"] == pytest.approx((5 / 500 - 0.008) / 0.010)


def test_roas_absent_until_day_ten_then_revised_with_history(db: psycopg.Connection) -> None:
    _, ad, meta = _setup(db)
    _days(db, meta, 11, impressions=1000, clicks=20, purchases=1, value=25.0, spend=10.0)
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=7)),))
    r7 = _reward(db, ad)
    assert set(r7["components"]["components"]) == {"ctr", "conversion_rate"}
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=9)),))
    assert "roas" not in _reward(db, ad)["components"]["components"]
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=10)),))
    r10 = _reward(db, ad)
    assert set(r10["components"]["components"]) == {"ctr", "conversion_rate", "roas"}
    assert r10["components"]["left_out"] == {}
    roas = 25.0 * 11 / (10.0 * 11)
    assert r10["components"]["components"]["roas"]["raw"] == pytest.approx(roas)
    # Weighted exactly as CONVERSIONS: 0.2 ctr + 0.3 conversion + 0.5 roas.
    comps = r10["components"]["components"]
    expected = sum(
        comps[m]["normalized"] * w
        for m, w in [("ctr", 0.2), ("conversion_rate", 0.3), ("roas", 0.5)]
    )
    assert r10["score"] == pytest.approx(expected)
    history = db.execute(
        "SELECT revision, reward_score FROM genome.creative_element_reward_history "
        "WHERE generated_ad_id = %s ORDER BY revision",
        (ad,),
    ).fetchall()
    assert [h[0] for h in history] == list(range(1, r10["revision"]))
    assert history[0][1] == pytest.approx(r7["score"])


def test_meta_restatement_revises_the_reward(db: psycopg.Connection) -> None:
    _, ad, meta = _setup(db)
    _days(db, meta, 4, impressions=1000, clicks=10)
    now = f.at(D0 + dt.timedelta(days=4))
    db.execute("SELECT genome.collect_rewards(%s)", (now,))
    before = _reward(db, ad)
    # Meta restates day 1 (more clicks arrived).
    f.perf(db, meta, D0 + dt.timedelta(days=1), impressions=1000, clicks=30)
    assert db.execute("SELECT genome.collect_rewards(%s)", (now,)).fetchone()[0] == 1
    after = _reward(db, ad)
    assert after["revision"] == before["revision"] + 1
    assert after["score"] > before["score"]
    old = db.execute(
        "SELECT reward_score FROM genome.creative_element_reward_history WHERE generated_ad_id = %s "
        "AND revision = %s",
        (ad, before["revision"]),
    ).fetchone()[0]
    assert old == pytest.approx(before["score"])


def test_second_call_at_same_now_changes_nothing(db: psycopg.Connection) -> None:
    _, _ad, meta = _setup(db)
    _days(db, meta, 11, impressions=1000, clicks=20, purchases=1, value=25.0)
    now = f.at(D0 + dt.timedelta(days=11))
    assert db.execute("SELECT genome.collect_rewards(%s)", (now,)).fetchone()[0] == 1
    snapshot = db.execute("SELECT * FROM genome.creative_element_rewards").fetchall()
    assert db.execute("SELECT genome.collect_rewards(%s)", (now,)).fetchone()[0] == 0
    assert db.execute("SELECT * FROM genome.creative_element_rewards").fetchall() == snapshot
    assert (
        db.execute("SELECT count(*) FROM genome.creative_element_reward_history").fetchone()[0] == 0
    )


def test_missing_purchase_tracking_is_left_out_not_imputed(db: psycopg.Connection) -> None:
    _, ad, meta = _setup(db)
    _days(db, meta, 11, impressions=1000, clicks=12, purchases=None, value=None)
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=11)),))
    r = _reward(db, ad)
    assert set(r["components"]["components"]) == {"ctr"}
    assert r["components"]["left_out"] == {"conversion_rate": "missing", "roas": "missing"}
    assert r["score"] == pytest.approx((0.012 - 0.008) / 0.010)


def test_objectives_are_mapped_and_unknown_ones_recorded(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    traffic, weird, aware = (f.ad(db, run, TAGS) for _ in range(3))
    for a, obj in [
        (traffic, "OUTCOME_TRAFFIC"),
        (weird, "SOMETHING_NEW"),
        (aware, "OUTCOME_AWARENESS"),
    ]:
        meta = f.link(db, a)
        _days(
            db,
            meta,
            11,
            impressions=1000,
            clicks=20,
            purchases=2,
            value=40.0,
            objective=obj,
            spend=12.0,
        )
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=11)),))
    t = _reward(db, traffic)
    assert t["objective"] == "TRAFFIC"
    comps = t["components"]["components"]
    assert comps["ctr"]["weight"] == pytest.approx(0.7)
    w = _reward(db, weird)
    assert w["objective"] == "CONVERSIONS"
    assert w["components"]["objective_source"] == "default"
    assert w["components"]["meta_objective"] == "SOMETHING_NEW"
    a = _reward(db, aware)
    assert a["objective"] == "BRAND_AWARENESS"
    cpm = a["components"]["components"]["cpm"]
    # CPM: lower is better, p25 -> 1 and p75 -> 0.
    assert cpm["raw"] == pytest.approx(12.0)
    assert cpm["normalized"] == pytest.approx((20.0 - 12.0) / (20.0 - 8.0))


def test_baseline_is_the_matching_cohort_then_brand_all_then_default(
    db: psycopg.Connection,
) -> None:
    b = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    db.execute(
        "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level, "
        "creative_format, campaign_objective, p25_ctr, p75_ctr) VALUES "
        "(%s, %s, 'all', 'image', 'all', 0.010, 0.030), "
        "(%s, %s, 'problem_aware', 'image', 'all', 0.020, 0.040)",
        (org, b, org, b),
    )
    run = f.ad_run(db, f.product(db, b))
    cohort = f.ad(db, run, TAGS)
    fallback = f.ad(db, run, {**TAGS, "awareness_stage": "unaware"})
    other = _setup(db)[1]
    for a in (cohort, fallback):
        _days(db, f.link(db, a), 4, impressions=1000, clicks=25)
    _days(
        db,
        db.execute(
            "SELECT meta_ad_id FROM meta_ad_mapping WHERE generated_ad_id = %s", (other,)
        ).fetchone()[0],
        4,
        impressions=1000,
        clicks=25,
    )
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=4)),))
    c = _reward(db, cohort)["components"]["components"]["ctr"]
    assert (c["baseline"], c["normalized"]) == ("cohort", pytest.approx((0.025 - 0.02) / 0.02))
    fb = _reward(db, fallback)["components"]["components"]["ctr"]
    assert (fb["baseline"], fb["normalized"]) == ("brand_all", pytest.approx((0.025 - 0.01) / 0.02))
    d = _reward(db, other)["components"]["components"]["ctr"]
    assert (d["baseline"], d["normalized"]) == ("default", 1.0)


def test_mapping_first_ad_name_as_fallback(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    named, mapped = f.ad(db, run, TAGS), f.ad(db, run, TAGS)
    # An unmapped Meta ad whose name carries a generated ad's id.
    _days(db, "meta-unmapped", 4, impressions=1000, clicks=10, ad_name=f"V2 | {named} | sq")
    # A mapped Meta ad whose name points at the other ad: the mapping wins.
    f.link(db, mapped, "meta-mapped")
    _days(db, "meta-mapped", 4, impressions=1000, clicks=10, ad_name=f"V2 | {named} | sq")
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=4)),))
    assert _reward(db, named)["path"] == "ad_name"
    assert _reward(db, mapped)["path"] == "mapping"
    n = db.execute(
        "SELECT total_impressions FROM genome.creative_element_rewards WHERE generated_ad_id = %s",
        (named,),
    ).fetchone()[0]
    assert n == 4000


def test_v1_ads_get_backfilled_tags(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    run = db.execute(
        "INSERT INTO ad_runs (product_id, parameters) VALUES (%s, %s) RETURNING id",
        (p, '{"hook_type": "fomo", "template_category": "testimonial", "belief_angle": "made-up"}'),
    ).fetchone()[0]
    v1 = db.execute(
        "INSERT INTO generated_ads (ad_run_id, prompt_index, color_mode, canvas_size) "
        "VALUES (%s, 1, 'brand_colors', '1080x1350') RETURNING id",
        (run,),
    ).fetchone()[0]
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0),))
    tags, source = db.execute(
        "SELECT element_tags, element_tags_source FROM generated_ads WHERE id = %s", (v1,)
    ).fetchone()
    assert source == "backfilled"
    assert tags == {
        "hook_type": "fear_of_missing_out",
        "template_category": "Testimonial",
        "color_mode": "brand",
        "canvas_size": "1080x1350px",
    }


def test_null_now_is_refused(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.collect_rewards(NULL)")
    assert err.value.sqlstate == "GN004"
