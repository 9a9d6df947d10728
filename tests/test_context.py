"""The audience context from the app (docs/learning.md#context-from-the-app): plan_ads'
p_context and record_ad_context, checked against the registry; an app-shaped flow whose
context gives attribution its strata and rewards their cohort baselines."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sim import factories as f
from tests.support.security import session

D0 = dt.date(2026, 3, 2)
NOW = f.at(D0)


def _plan(db, run, n, context, seed=1) -> list[uuid.UUID]:
    return [
        r[0]
        for r in db.execute(
            "SELECT * FROM genome.plan_ads(%s, %s, %s, %s, p_context => %s)",
            (run, n, NOW, seed, Jsonb(context)),
        )
    ]


def _tags(db, ad) -> dict:
    return db.execute("SELECT element_tags FROM generated_ads WHERE id = %s", (ad,)).fetchone()[0]


def test_plan_ads_carries_the_runs_context_with_canonical_values(db: psycopg.Connection) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    ads = _plan(db, run, 3, {"awareness_stage": "PROBLEM_AWARE", "audience_type": "lookalike"})
    for ad in ads:
        tags = _tags(db, ad)
        assert (tags["awareness_stage"], tags["audience_type"]) == ("problem_aware", "lookalike")
        assert "hook_type" in tags and "canvas_size" in tags
    # Without context the ads carry none.
    assert "awareness_stage" not in _tags(db, _plan(db, run, 1, {}, seed=9)[0])


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ({"hook_type": "story"}, "GN100"),  # an element, not a context dimension
        ({"awareness_stage": "very_aware"}, "GN101"),
        ({"no_such_dimension": "x"}, "GN100"),
        (["problem_aware"], "GN100"),
    ],
)
def test_a_bad_context_plans_nothing(db: psycopg.Connection, context, code: str) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    with pytest.raises(psycopg.Error) as err:
        _plan(db, run, 2, context)
    assert err.value.sqlstate == code
    assert db.execute(
        "SELECT attempts_count, (SELECT count(*) FROM generated_ads WHERE ad_run_id = r.id) "
        "FROM ad_runs AS r WHERE r.id = %s",
        (run,),
    ).fetchone() == (0, 0)


def test_record_ad_context_merges_and_refuses_what_it_cannot_check(
    db: psycopg.Connection, db_dsn: str
) -> None:
    brand = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (brand,)).fetchone()[0]
    ad = _plan(db, f.ad_run(db, f.product(db, brand)), 1, {})[0]
    before = _tags(db, ad)
    with session(db_dsn, "genome_app", org) as app:
        tags = app.execute(
            "SELECT genome.record_ad_context(%s, %s)",
            (ad, Jsonb({"audience_type": "retargeting", "awareness_stage": "most_aware"})),
        ).fetchone()[0]
    assert tags == {**before, "audience_type": "retargeting", "awareness_stage": "most_aware"}
    for args, code in [
        ((uuid.uuid4(), {"audience_type": "broad"}), "GN006"),
        ((ad, {}), "GN100"),
        ((ad, {"hook_type": "story"}), "GN100"),
        ((ad, {"audience_type": "everyone"}), "GN101"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT genome.record_ad_context(%s, %s)", (args[0], Jsonb(args[1])))
        assert err.value.sqlstate == code
    assert _tags(db, ad) == tags
    # Another organization's app session cannot tell the ad exists, nor change it.
    other_org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (f.brand(db),))
    with (
        session(db_dsn, "genome_app", other_org.fetchone()[0]) as app,
        pytest.raises(psycopg.Error) as err,
    ):
        app.execute(
            "SELECT genome.record_ad_context(%s, %s)", (ad, Jsonb({"audience_type": "broad"}))
        )
    assert err.value.sqlstate == "GN006" and _tags(db, ad) == tags


def test_context_from_the_app_gives_strata_and_cohort_baselines(db: psycopg.Connection) -> None:
    brand = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (brand,)).fetchone()[0]
    db.execute(
        "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level, "
        "creative_format, campaign_objective, p25_ctr, p75_ctr) VALUES "
        "(%s, %s, 'all', 'image', 'all', 0.010, 0.030), "
        "(%s, %s, 'problem_aware', 'image', 'all', 0.020, 0.040)",
        (org, brand, org, brand),
    )
    product = f.product(db, brand)
    contexts = [
        {"awareness_stage": "unaware", "audience_type": "broad"},
        {"awareness_stage": "problem_aware", "audience_type": "interest"},
        {"awareness_stage": "most_aware", "audience_type": "retargeting"},
    ]
    ads = []
    for i, context in enumerate(contexts):
        ads += _plan(db, f.ad_run(db, product), 6, context, seed=10 * i)
    # One more ad whose context the app learns only after launch.
    late = _plan(db, f.ad_run(db, product), 1, {}, seed=99)[0]
    db.execute(
        "UPDATE generated_ads SET final_status = 'approved' WHERE id = ANY(%s)", ([*ads, late],)
    )
    for k, ad in enumerate([*ads, late]):
        meta = f.link(db, ad)
        for day in range(4):
            f.perf(db, meta, D0 + dt.timedelta(days=day), impressions=1000, clicks=15 + k % 7)
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=4)),))

    def baseline(ad) -> str:
        return db.execute(
            "SELECT reward_components #>> '{components,ctr,baseline}' "
            "FROM genome.creative_element_rewards WHERE generated_ad_id = %s",
            (ad,),
        ).fetchone()[0]

    assert [baseline(a) for a in ads[6:12]] == ["cohort"] * 6
    assert {baseline(a) for a in ads[:6] + ads[12:]} == {"brand_all"}
    assert baseline(late) == "brand_all"
    strata = db.execute(
        "SELECT max(n_strata) FROM genome.attribute(%s, 'hook_type', %s)",
        (brand, f.at(D0 + dt.timedelta(days=5))),
    ).fetchone()[0]
    assert strata >= 3
    # Learned later, the context moves the late ad to its cohort at the next collect.
    db.execute(
        "SELECT genome.record_ad_context(%s, %s)",
        (late, Jsonb({"awareness_stage": "problem_aware"})),
    )
    f.perf(
        db,
        db.execute(
            "SELECT meta_ad_id FROM meta_ad_mapping WHERE generated_ad_id = %s", (late,)
        ).fetchone()[0],
        D0 + dt.timedelta(days=4),
        impressions=1000,
        clicks=20,
    )
    db.execute("SELECT genome.collect_rewards(%s)", (f.at(D0 + dt.timedelta(days=5)),))
    assert baseline(late) == "cohort"
