"""The market simulator writes what Meta sync would write: units, delays, restatements,
the planted confounding, and the same rows for the same seed."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import psycopg
import pytest

from sim.ads import insert_ads
from sim.market import Market, sync_time
from sim.truth import CONFOUNDED_HOOK, CONFOUNDED_STAGE, build_truth

D0 = date(2025, 3, 3)


def _scenario(conn: psycopg.Connection, seed: int, days: int = 10, per_day: int = 4) -> Market:
    truth = build_truth(seed, 3)
    market = Market(truth)
    handles = market.setup(conn, D0)
    rng = np.random.default_rng(seed)
    for k in range(days):
        day = D0 + timedelta(days=k)
        for h in handles:
            ids = insert_ads(
                conn, h, [truth.random_tags(rng) for _ in range(per_day)], sync_time(day)
            )
            market.launch_many(conn, ids, day)
        market.simulate_day(conn, day)
    return market


def _rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        """
        SELECT p.meta_ad_account_id, p.meta_ad_id, p.meta_campaign_id, p.meta_adset_id, p.date,
               p.spend, p.impressions, p.reach, p.frequency, p.link_clicks, p.link_cpc,
               p.add_to_carts, p.purchases, p.purchase_value, p.cpm, p.ad_status, p.link_ctr,
               p.conversion_rate, p.roas, p.campaign_objective, p.created_at, p.updated_at,
               b.slug, g.element_tags
        FROM meta_ads_performance AS p
        JOIN brands AS b ON b.id = p.brand_id
        JOIN meta_ad_mapping AS m ON m.meta_ad_id = p.meta_ad_id
        JOIN generated_ads AS g ON g.id = m.generated_ad_id
        ORDER BY p.meta_ad_id, p.date
        """
    ).fetchall()


def _wipe(conn: psycopg.Connection) -> None:
    conn.execute(
        "TRUNCATE meta_ads_performance, meta_ad_mapping, meta_campaigns, "
        "ad_intelligence_baselines, generated_ads, ad_runs, products, brands, organizations "
        "CASCADE"
    )


def test_same_seed_same_rows_other_seed_different(db) -> None:
    """Same seed, same Meta rows and same brand ids: the learner's Monte Carlo draws are
    seeded by genome version and brand id, so a benchmark run is repeatable only if the
    brands are (docs/learning.md#win-probabilities)."""
    first_ids = [h.brand_id for h in _scenario(db, 21, days=6).brands]
    first = _rows(db)
    assert len(first) > 100
    _wipe(db)
    assert [h.brand_id for h in _scenario(db, 21, days=6).brands] == first_ids
    assert _rows(db) == first
    _wipe(db)
    other_ids = [h.brand_id for h in _scenario(db, 22, days=6).brands]
    other = _rows(db)
    assert [r[5:20] for r in other] != [r[5:20] for r in first]
    assert not set(other_ids) & set(first_ids)


def test_setup_catalogue_and_baselines(db) -> None:
    market = Market(build_truth(4, 3))
    handles = market.setup(db, D0)
    assert db.execute("SELECT count(*) FROM organizations").fetchone()[0] >= 2
    rows = db.execute("SELECT category, cross_brand_sharing FROM brands ORDER BY slug").fetchall()
    assert len(rows) == 3
    assert [r[1] for r in rows].count(False) == 1
    assert len({r[0] for r in rows}) < 3
    objs = {r[0] for r in db.execute("SELECT objective FROM meta_campaigns")}
    assert objs == {"OUTCOME_SALES", "OUTCOME_TRAFFIC", "OUTCOME_AWARENESS"}
    for h in handles:
        b = market.truth.brands[h.index]
        cohorts = db.execute(
            """
            SELECT awareness_level, creative_format, campaign_objective, p25_ctr, median_ctr,
                   p75_ctr, p25_conversion_rate, p75_cpm
            FROM ad_intelligence_baselines WHERE brand_id = %s
            """,
            (h.brand_id,),
        ).fetchall()
        assert {c[2] for c in cohorts} >= {"all", b.objective}
        for c in cohorts:
            assert c[0] == "all" and c[1] == "image"
            # ctr is a RATIO in baselines (about 1%), not percent
            assert 0.001 < float(c[3]) < float(c[4]) < float(c[5]) < 0.05
            assert float(c[3]) == pytest.approx(b.baselines["ctr"].p25, abs=1e-6)
            assert float(c[6]) == pytest.approx(b.baselines["conversion_rate"].p25, abs=1e-6)
            assert float(c[7]) == pytest.approx(b.baselines["cpm"].p75, abs=1e-4)


def test_units_and_sanity(db) -> None:
    _scenario(db, 3, days=8)
    bad = db.execute(
        """
        SELECT count(*) FILTER (WHERE link_clicks > impressions),
               count(*) FILTER (WHERE reach > impressions OR frequency < 1),
               count(*) FILTER (WHERE link_ctr <> round(100.0 * link_clicks / impressions, 4)),
               count(*) FILTER (WHERE link_clicks > 0
                   AND conversion_rate <> round(100.0 * purchases / link_clicks, 4)),
               count(*) FILTER (WHERE roas <> round(purchase_value / spend, 4)),
               count(*) FILTER (WHERE cpm <> round(spend * 1000 / impressions, 4)),
               count(*) FILTER (WHERE 'NaN' IN (spend, link_ctr, cpm, roas, frequency,
                                               purchase_value, coalesce(conversion_rate, 0))),
               count(*) FILTER (WHERE purchases > link_clicks OR add_to_carts < purchases),
               count(*) FILTER (WHERE campaign_objective IS NULL OR brand_id IS NULL),
               count(*)
        FROM meta_ads_performance
        """
    ).fetchone()
    assert bad[:-1] == (0,) * 9
    assert bad[-1] > 100
    ctr = db.execute(
        "SELECT sum(link_clicks)::float / sum(impressions), avg(link_ctr)::float FROM meta_ads_performance"
    ).fetchone()
    # percent column is 100 x the ratio
    assert 0.003 < ctr[0] < 0.04
    assert ctr[1] == pytest.approx(100 * ctr[0], rel=0.3)


def test_launch_records_context_and_mapping(db) -> None:
    truth = build_truth(8, 1)
    market = Market(truth)
    (h,) = market.setup(db, D0)
    tags = [{**truth.random_tags(np.random.default_rng(k))} for k in range(3)]
    ids = insert_ads(db, h, tags, sync_time(D0))
    launched = market.launch(db, ids[0], D0)
    forced = market.launch(db, ids[1], D0, audience=("most_aware", "retargeting"))
    et = db.execute(
        "SELECT element_tags, meta_ad_id FROM generated_ads WHERE id = %s", (ids[1],)
    ).fetchone()
    assert et[0]["awareness_stage"] == "most_aware"
    assert et[0]["audience_type"] == "retargeting"
    assert et[0]["hook_type"] == tags[1]["hook_type"]
    assert et[1] == forced.meta_ad_id
    maps = db.execute(
        "SELECT generated_ad_id, meta_ad_id, linked_by, meta_campaign_id FROM meta_ad_mapping ORDER BY meta_ad_id"
    ).fetchall()
    assert [(m[0], m[1], m[2], m[3]) for m in maps] == [
        (ids[0], launched.meta_ad_id, "auto", h.meta_campaign_id),
        (ids[1], forced.meta_ad_id, "auto", h.meta_campaign_id),
    ]
    with pytest.raises(ValueError, match="only once"):
        market.launch(db, ids[0], D0)
    db.execute("UPDATE generated_ads SET final_status = 'rejected' WHERE id = %s", (ids[2],))
    with pytest.raises(ValueError, match="not approved"):
        market.launch(db, ids[2], D0)


def test_conversions_arrive_late_and_past_days_are_restated(db) -> None:
    truth = build_truth(5, 1)
    market = Market(truth)
    (h,) = market.setup(db, D0)
    rng = np.random.default_rng(1)
    ids = insert_ads(db, h, [truth.random_tags(rng) for _ in range(40)], sync_time(D0))
    market.launch_many(db, ids, D0)

    def day0() -> tuple[int, int, object, object]:
        return db.execute(
            "SELECT sum(purchases), sum(link_clicks), min(created_at), max(updated_at) "
            "FROM meta_ads_performance WHERE date = %s",
            (D0,),
        ).fetchone()

    market.simulate_day(db, D0)
    p0, clicks0, created0, _ = day0()
    assert clicks0 > 100
    assert p0 == 0  # nothing converts on the click day
    seen = [p0]
    for k in range(1, 10):
        stats = market.simulate_day(db, D0 + timedelta(days=k))
        seen.append(day0()[0])
        if k <= 7:
            assert stats.restated_rows > 0
    assert seen[1] > 0
    assert seen[7] > seen[1]
    assert seen == sorted(seen)
    assert seen[7] == seen[8] == seen[9]  # 7 days after the click, the day is final
    _, clicks, created, updated = day0()
    assert clicks == clicks0  # delivery is not restated, conversions are
    assert created == created0 == sync_time(D0)
    assert updated > created
    # conversion rate stays in percent after restatement
    cr = db.execute(
        "SELECT sum(purchases)::float / sum(link_clicks), avg(conversion_rate)::float "
        "FROM meta_ads_performance WHERE date = %s",
        (D0,),
    ).fetchone()
    assert 0.005 < cr[0] < 0.2
    assert cr[1] > 100 * cr[0] * 0.5


def test_ads_stop_after_their_run(db) -> None:
    truth = build_truth(6, 1)
    market = Market(truth)
    (h,) = market.setup(db, D0)
    ids = insert_ads(db, h, [truth.random_tags(np.random.default_rng(0))], sync_time(D0))
    market.launch_many(db, ids, D0)
    for k in range(truth.params.run_days + 5):
        market.simulate_day(db, D0 + timedelta(days=k))
    n, first, last = db.execute(
        "SELECT count(*), min(date), max(date) FROM meta_ads_performance"
    ).fetchone()
    assert n == truth.params.run_days
    assert (first, last) == (D0, D0 + timedelta(days=truth.params.run_days - 1))
    with pytest.raises(ValueError, match="days must increase"):
        market.simulate_day(db, D0)


def test_planted_simpson_confounding_is_in_the_data(db) -> None:
    truth = build_truth(9, 1)
    market = Market(truth)
    (h,) = market.setup(db, D0)
    rng = np.random.default_rng(2)
    others = [v for v in truth.dimensions["hook_type"] if v != CONFOUNDED_HOOK]
    tags = []
    for k in range(600):
        t = truth.random_tags(rng)
        t["hook_type"] = CONFOUNDED_HOOK if k % 2 == 0 else others[int(rng.integers(len(others)))]
        tags.append(t)
    ids = insert_ads(db, h, tags, sync_time(D0))
    market.launch_many(db, ids, D0)
    for k in range(4):
        market.simulate_day(db, D0 + timedelta(days=k))
    rows = db.execute(
        """
        SELECT g.element_tags ->> 'awareness_stage' AS stage,
               (g.element_tags ->> 'hook_type') = %s AS curiosity,
               count(DISTINCT g.id), sum(p.link_clicks)::float / sum(p.impressions)
        FROM meta_ads_performance AS p
        JOIN meta_ad_mapping AS m USING (meta_ad_id)
        JOIN generated_ads AS g ON g.id = m.generated_ad_id
        GROUP BY GROUPING SETS ((1, 2), (2))
        """,
        (CONFOUNDED_HOOK,),
    ).fetchall()
    overall = {r[1]: r[3] for r in rows if r[0] is None}
    assert overall[True] > overall[False] * 1.1  # curiosity_gap looks better in aggregate
    strata = {}
    for stage, cur, n, ctr in rows:
        if stage is not None:
            strata.setdefault(stage, {})[cur] = (n, ctr)
    compared = [s for s, v in strata.items() if len(v) == 2 and min(v[True][0], v[False][0]) >= 8]
    assert CONFOUNDED_STAGE in compared
    assert len(compared) >= 3
    for s in compared:
        assert strata[s][True][1] < strata[s][False][1], s  # ... and worse in every stratum
    share = strata[CONFOUNDED_STAGE][True][0] / sum(v[True][0] for v in strata.values())
    assert share > 0.6


def test_ads_run_their_days_with_hundreds_live(db) -> None:
    # Speed is measured in bench/, never asserted here.
    truth = build_truth(12, 3)
    market = Market(truth)
    handles = market.setup(db, D0)
    rng = np.random.default_rng(0)
    for k in range(20):
        day = D0 + timedelta(days=k)
        for h in handles:
            ids = insert_ads(db, h, [truth.random_tags(rng) for _ in range(12)], sync_time(day))
            market.launch_many(db, ids, day)
        market.simulate_day(db, day)
    assert len(market.live_ads(D0 + timedelta(days=19))) == 14 * 36
    rows = db.execute(
        "SELECT count(DISTINCT meta_ad_id), max(date) FROM meta_ads_performance"
    ).fetchone()
    assert rows == (20 * 36, D0 + timedelta(days=19))


def test_a_days_shock_moves_every_ad_and_each_ad_scatters_on_its_own() -> None:
    """deliver's day_ctr_sd (one mean-one lognormal a day for every ad) and ad_day_ctr_sd
    (one per ad and day), recovered from the clicks of many identical ads."""
    from sim.market import deliver
    from sim.truth import MarketParams

    p = MarketParams(day_ctr_sd=0.2, ad_day_ctr_sd=0.3, fatigue_rate=0.0, cpm_noise_sd=0.0)
    n = 200
    day_means, within = [], []
    for day in range(1000):
        d = deliver(
            np.random.default_rng([5, day]),
            p,
            budget=np.full(n, 4000.0),
            cpm=np.full(n, 10.0),
            ctr=np.full(n, 0.02),
            cvr=np.zeros(n),
            aov=np.ones(n),
            cum_impressions=np.zeros(n),
        )
        ctr = d.clicks / d.impressions
        day_means.append(np.log(ctr.mean()))
        within.append(np.std(np.log(ctr)))
    # 400,000 impressions an ad: the binomial noise is a few percent of the scatter.
    assert np.std(day_means) == pytest.approx(0.2, rel=0.1)
    assert np.mean(within) == pytest.approx(0.3, rel=0.05)
