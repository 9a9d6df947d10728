"""genome.attribute: stratified (CMH) attribution, checked against statsmodels."""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

import numpy as np
import psycopg
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from tests.support.attribution import NOW, Ad, add_rewards, make_brand

EDGES = [20.0, 100.0, 500.0]
CONTEXT = ("audience_type", "awareness_stage")  # the registry's context dims, sorted


def attribute(
    db: psycopg.Connection, brand: uuid.UUID, dimension: str, now: datetime = NOW
) -> dict[str, dict]:
    cur = db.execute("SELECT * FROM genome.attribute(%s, %s, %s)", (brand, dimension, now))
    cols = [c.name for c in cur.description]
    return {r[1]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def stratum_of(ad: Ad, dimension: str) -> tuple:
    """The stratum key, computed independently of the SQL."""
    iso = ad.first_date.isocalendar()
    ctx = tuple(ad.tags.get(k) or "unknown" for k in CONTEXT if k != dimension)
    return (*ctx, bisect.bisect_right(EDGES, ad.spend), iso.year, iso.week)


def tables_by_value(ads: list[Ad], dimension: str) -> dict[str, list[np.ndarray]]:
    """Per value, the 2x2 tables [[a, b], [c, d]] of the strata where it has ads."""
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    strata: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    present: dict[str, set] = defaultdict(set)
    for ad in ads:
        s = stratum_of(ad, dimension)
        v = ad.tags.get(dimension)
        strata[s][0] += ad.clicks
        strata[s][1] += ad.impressions - ad.clicks
        if v:
            cells[(v, s)][0] += ad.clicks
            cells[(v, s)][1] += ad.impressions - ad.clicks
            present[v].add(s)
    out: dict[str, list[np.ndarray]] = {}
    for v, ss in present.items():
        out[v] = []
        for s in sorted(ss):
            a, b = cells[(v, s)]
            c, d = strata[s][0] - a, strata[s][1] - b
            out[v].append(np.array([[a, b], [c, d]], dtype=float))
    return out


def informative(tables: list[np.ndarray]) -> list[np.ndarray]:
    return [t for t in tables if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all()]


def close(x: float | None, y: float, rel: float = 1e-9, abs_: float = 0.0) -> bool:
    return x is not None and x == pytest.approx(y, rel=rel, abs=abs_)


# ---------------------------------------------------------------------------------------
# Statistics equal statsmodels' StratifiedTable


def random_ads(rng: np.random.Generator) -> list[Ad]:
    """Ads over 2 awareness x 3 audiences x spend buckets x 2 ISO weeks, with planted zero
    cells (a value with no clicks, with only clicks) and a stratum without any click."""
    hooks = ["curiosity_gap", "social_proof", "authority", "urgency"]
    spends = [5.0, 20.0, 99.99, 100.0, 750.0]  # on and around the edges 20, 100, 500
    days = [date(2025, 3, 2), date(2025, 3, 3), date(2024, 12, 30)]  # W09, W10, 2025-W01
    ads: list[Ad] = []
    for aw in ["problem_aware", "unaware"]:
        for aud in ["broad", "interest", None]:
            for spend in rng.choice(spends, size=2, replace=False):
                day = days[int(rng.integers(len(days)))]
                mode = rng.random()
                for hook in hooks:
                    n_ads = int(rng.integers(0, 4))
                    kind = rng.random()
                    for _ in range(n_ads):
                        imps = int(rng.integers(1, 3000))
                        p = rng.uniform(0.002, 0.08)
                        clicks = int(rng.binomial(imps, p))
                        # a stratum where nobody clicks; no clicks for this value here
                        if mode < 0.1 or kind < 0.2:
                            clicks = 0
                        elif kind < 0.3:  # every impression a click
                            clicks = imps
                        tags = {"hook_type": hook, "awareness_stage": aw}
                        if aud:
                            tags["audience_type"] = aud
                        ads.append(Ad(tags, imps, clicks, float(spend), day))
    # ads without the dimension count in "the rest" of every value
    ads.append(Ad({"awareness_stage": "unaware"}, 900, 9, 50.0, date(2025, 3, 3)))
    return ads


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_statistics_equal_statsmodels(db: psycopg.Connection, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = make_brand(db)
    ads = random_ads(rng)
    add_rewards(db, ids, ads)
    got = attribute(db, ids[1], "hook_type")
    expected = tables_by_value(ads, "hook_type")
    assert set(got) == set(expected)
    checked = 0
    zero_cells = 0
    for value, tables in expected.items():
        row = got[value]
        info = informative(tables)
        assert row["n_strata"] == len(tables)
        assert row["informative_strata"] == len(info)
        zero_cells += sum(int((t == 0).any()) for t in info)
        if not info:
            assert row["mh_odds_ratio"] is None and row["cmh_chi2"] is None
            continue
        st = StratifiedTable(info)
        with np.errstate(all="ignore"):
            pooled = st.oddsratio_pooled
        if not (np.isfinite(pooled) and pooled > 0):
            assert row["mh_ci_lower"] is None and row["breslow_day_chi2"] is None
            continue
        lo, hi = st.oddsratio_pooled_confint()
        null = st.test_null_odds()
        assert close(row["mh_odds_ratio"], pooled)
        assert close(row["mh_log_or_se"], st.logodds_pooled_se)
        assert close(row["mh_ci_lower"], lo)
        assert close(row["mh_ci_upper"], hi)
        assert close(row["cmh_chi2"], null.statistic)
        # statsmodels computes 1 - cdf, which keeps only absolute precision (~1e-16) in the
        # tail; ours is the survival function, exact relative to scipy's chi2.sf.
        assert close(row["cmh_p_value"], null.pvalue, abs_=1e-15)
        assert close(row["cmh_p_value"], stats.chi2.sf(null.statistic, 1))
        # Strata that are not informative add exactly nothing to MH and CMH.
        st_all = StratifiedTable([t for t in tables if t.sum() > 1])
        assert close(row["mh_odds_ratio"], st_all.oddsratio_pooled)
        if len(info) >= 2:
            eq = st.test_equal_odds()
            assert close(row["breslow_day_chi2"], eq.statistic)
            assert close(row["breslow_day_p_value"], eq.pvalue, abs_=1e-15)
            assert close(row["breslow_day_p_value"], stats.chi2.sf(eq.statistic, len(info) - 1))
            assert row["breslow_day_df"] == len(info) - 1
        else:
            assert row["breslow_day_chi2"] is None
        # Direction counts, from each stratum's own odds ratio.
        sign = np.sign(np.log(pooled))
        own = [np.sign(t[0, 0] * t[1, 1] - t[0, 1] * t[1, 0]) for t in info]
        assert row["agreeing_strata"] == sum(1 for s in own if s == sign and sign != 0)
        assert row["disagreeing_strata"] == sum(1 for s in own if s == -sign and sign != 0)
        # Crude odds ratio of the summed table.
        tot = np.sum(tables, axis=0)
        a, b = tot[0]
        all_k = sum(ad.clicks for ad in ads)
        all_m = sum(ad.impressions - ad.clicks for ad in ads)
        c, d = all_k - a, all_m - b
        if b * c > 0:
            assert close(row["crude_odds_ratio"], a * d / (b * c))
        assert row["label"] == "correlational"
        checked += 1
    assert checked >= 3, "too few values with a defined pooled odds ratio to compare"
    assert zero_cells > 0, "the random tables include zero cells"


def test_breslow_day_at_pooled_odds_ratio_one(db: psycopg.Connection) -> None:
    """Two strata with odds ratios 2 and 1/2 pool to exactly 1, where statsmodels' quadratic
    divides by zero; the expected cell is then a*c/n (the quadratic's linear case)."""
    ids = make_brand(db)
    ads = []
    for aw, (a, b, c, d) in {
        "unaware": (20, 10, 10, 10),
        "problem_aware": (10, 20, 10, 10),
    }.items():
        ads.append(Ad({"hook_type": "story", "awareness_stage": aw}, a + b, a))
        ads.append(Ad({"hook_type": "question", "awareness_stage": aw}, c + d, c))
    add_rewards(db, ids, ads)
    row = attribute(db, ids[1], "hook_type")["story"]
    assert row["mh_odds_ratio"] == pytest.approx(1.0, rel=1e-12)
    tables = [np.array([[20, 10], [10, 10]], float), np.array([[10, 20], [10, 10]], float)]
    e = [t[0].sum() * t[:, 0].sum() / t.sum() for t in tables]
    v = [
        1
        / (1 / ei + 1 / (t[:, 0].sum() - ei) + 1 / (t[0].sum() - ei) + 1 / (t[1, 1] - t[0, 0] + ei))
        for t, ei in zip(tables, e, strict=True)
    ]
    bd = sum((t[0, 0] - ei) ** 2 / vi for t, ei, vi in zip(tables, e, v, strict=True))
    assert close(row["breslow_day_chi2"], bd)
    assert close(row["breslow_day_p_value"], stats.chi2.sf(bd, 1))
    assert row["finding"] == "insufficient"


# ---------------------------------------------------------------------------------------
# Planted truths


def simpson_ads() -> list[Ad]:
    """curiosity_gap runs mostly where CTR is high (problem_aware), but within every
    stratum it does worse than the other hooks."""
    ads = []
    for aud in ["broad", "interest", "lookalike"]:
        for aw, hook, n, clicks in [
            ("problem_aware", "curiosity_gap", 8, 40),  # 4.0 %
            ("problem_aware", "social_proof", 2, 50),  # 5.0 %
            ("unaware", "curiosity_gap", 2, 8),  # 0.8 %
            ("unaware", "social_proof", 8, 10),  # 1.0 %
        ]:
            for _ in range(n):
                tags = {"hook_type": hook, "awareness_stage": aw, "audience_type": aud}
                ads.append(Ad(tags, 1000, clicks))
    return ads


def test_simpsons_paradox_is_flagged(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, simpson_ads())
    got = attribute(db, ids[1], "hook_type")
    cg = got["curiosity_gap"]
    # The naive comparison says curiosity_gap is better ...
    assert cg["ctr"] > got["social_proof"]["ctr"]
    assert cg["crude_odds_ratio"] > 1
    # ... the stratified one says it is worse, in every stratum.
    assert cg["mh_odds_ratio"] < 1
    assert cg["mh_ci_upper"] < 1
    assert cg["reversal"] is True
    assert cg["informative_strata"] == 6
    assert cg["agreeing_strata"] == 6 and cg["disagreeing_strata"] == 0
    assert cg["finding"] == "finding"
    assert got["social_proof"]["reversal"] is True
    assert got["social_proof"]["mh_odds_ratio"] > 1
    assert all(r["label"] == "correlational" for r in got.values())


def test_no_reversal_without_confounding(db: psycopg.Connection) -> None:
    """The same within-stratum effect with balanced exposure: crude and stratified agree."""
    ads = []
    for aud in ["broad", "interest", "lookalike"]:
        for aw, base in [("problem_aware", 50), ("unaware", 10)]:
            for hook, clicks in [("curiosity_gap", int(base * 0.8)), ("social_proof", base)]:
                for _ in range(5):
                    tags = {"hook_type": hook, "awareness_stage": aw, "audience_type": aud}
                    ads.append(Ad(tags, 1000, clicks))
    ids = make_brand(db)
    add_rewards(db, ids, ads)
    cg = attribute(db, ids[1], "hook_type")["curiosity_gap"]
    assert cg["crude_odds_ratio"] < 1 and cg["mh_odds_ratio"] < 1
    assert cg["reversal"] is False


def effect_ads(rng: np.random.Generator, strata: int, lift: float, hook: str) -> list[Ad]:
    """`hook` at `lift` x the CTR of the other hooks in `strata` strata (week x audience)."""
    ads = []
    cells = [(aud, wk) for wk in range(2) for aud in ["broad", "interest", "lookalike"]]
    for i, (aud, wk) in enumerate(cells):
        base = 0.01 + 0.01 * i
        for h in ["question", "statistic", hook]:
            if h == hook and i >= strata:
                continue
            p = base * (lift if h == hook else 1.0)
            for _ in range(6):
                tags = {"hook_type": h, "awareness_stage": "solution_aware", "audience_type": aud}
                imps = 4000
                ads.append(
                    Ad(tags, imps, int(rng.binomial(imps, p)), 50.0, date(2025, 3, 3 + 7 * wk))
                )
    return ads


def test_real_effect_consistent_in_strata_is_a_finding(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, effect_ads(np.random.default_rng(7), 4, 2.0, "social_proof"))
    sp = attribute(db, ids[1], "hook_type")["social_proof"]
    assert sp["informative_strata"] == 4
    assert sp["agreeing_strata"] >= 3
    assert sp["mh_odds_ratio"] > 1.5 and sp["mh_ci_lower"] > 1
    assert sp["cmh_p_value"] < 1e-6
    assert sp["finding"] == "finding"
    assert sp["reversal"] is False


def test_value_in_too_few_strata_is_insufficient(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, effect_ads(np.random.default_rng(8), 2, 3.0, "authority"))
    au = attribute(db, ids[1], "hook_type")["authority"]
    assert au["n_strata"] == 2 and au["informative_strata"] == 2
    assert au["mh_ci_lower"] > 1  # a strong effect, but seen in only two strata
    assert au["finding"] == "insufficient"
    assert "fewer than 3" in au["finding_reason"]


def test_min_strata_comes_from_settings(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, effect_ads(np.random.default_rng(8), 2, 3.0, "authority"))
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'attribution_min_strata'")
    assert attribute(db, ids[1], "hook_type")["authority"]["finding"] == "finding"


def test_effect_changing_direction_is_not_a_finding(db: psycopg.Connection) -> None:
    """urgency is 10 % better in three strata and 10 % worse in three others."""
    ads = []
    for i, aud in enumerate(["broad", "interest", "lookalike", "retargeting", "unknown", None]):
        lift = 1.1 if i % 2 == 0 else 1 / 1.1
        for hook, clicks in [("urgency", round(200 * lift)), ("question", 200)]:
            tags = {"hook_type": hook, "awareness_stage": "most_aware"}
            if aud:
                tags["audience_type"] = aud
            ads += [Ad(tags, 10000, clicks)] * 3
    ids = make_brand(db)
    add_rewards(db, ids, ads)
    ur = attribute(db, ids[1], "hook_type")["urgency"]
    # "unknown" as a tag and a missing tag are the same stratum: five, not six.
    assert ur["informative_strata"] == 5
    assert ur["mh_ci_lower"] <= 1 <= ur["mh_ci_upper"]
    assert ur["agreeing_strata"] == 3 and ur["disagreeing_strata"] == 2
    assert ur["finding"] == "insufficient"
    assert "includes 1" in ur["finding_reason"]


def test_spend_buckets_from_settings_split_strata(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    ads = [
        Ad({"hook_type": h, "awareness_stage": "unaware"}, 1000, 10 + i, spend)
        for i, h in enumerate(["story", "question"])
        for spend in [10.0, 60.0, 200.0, 600.0]
    ]
    add_rewards(db, ids, ads)
    assert attribute(db, ids[1], "hook_type")["story"]["n_strata"] == 4
    db.execute(
        "UPDATE genome.settings SET value = '[1000]' WHERE key = 'attribution_spend_buckets'"
    )
    assert attribute(db, ids[1], "hook_type")["story"]["n_strata"] == 1


def test_context_dimension_is_stratified_on_the_other_context(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, simpson_ads())
    got = attribute(db, ids[1], "awareness_stage")
    pa = got["problem_aware"]
    # Strata are audience x spend x week only (3), so awareness has a comparison in each.
    assert pa["informative_strata"] == 3
    assert pa["mh_odds_ratio"] > 1 and pa["finding"] == "finding"


def test_p_now_excludes_rewards_matured_later(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    early = simpson_ads()
    late = [
        Ad(
            {"hook_type": "bold_claim", "awareness_stage": "unaware"},
            1000,
            30,
            matured_at=NOW + timedelta(days=3),
        ),
        Ad(
            {"hook_type": "curiosity_gap", "awareness_stage": "unaware"},
            1000,
            30,
            matured_at=NOW + timedelta(days=3),
        ),
    ]
    add_rewards(db, ids, early + late)
    before = attribute(db, ids[1], "hook_type", NOW)
    assert "bold_claim" not in before
    assert before["curiosity_gap"]["n_ads"] == 30
    at_edge = attribute(db, ids[1], "hook_type", NOW + timedelta(days=3))
    assert at_edge["bold_claim"]["n_ads"] == 1
    assert at_edge["curiosity_gap"]["n_ads"] == 31


def test_empty_brand_returns_nothing(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    assert attribute(db, ids[1], "hook_type") == {}


# ---------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        (("BRAND", None, NOW), "GN005"),
        ((None, "hook_type", NOW), "GN005"),
        (("BRAND", "hook_type", None), "GN004"),
        ((uuid.UUID(int=1), "hook_type", NOW), "GN001"),
        (("BRAND", "no_such_dimension", NOW), "GN302"),
        (("BRAND", "canvas_size", NOW), "GN303"),
        (("BRAND", "template_id", NOW), "GN303"),
    ],
)
def test_bad_input_raises_own_sqlstate(db: psycopg.Connection, args: tuple, sqlstate: str) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, simpson_ads())
    args = tuple(ids[1] if a == "BRAND" else a for a in args)
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM genome.attribute(%s, %s, %s)", args)
    assert exc.value.sqlstate == sqlstate


def test_malformed_settings_raise(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    db.execute("UPDATE genome.settings SET value = '\"x\"' WHERE key = 'attribution_spend_buckets'")
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM genome.attribute(%s, 'hook_type', %s)", (ids[1], NOW))
    assert exc.value.sqlstate == "GN090"


def test_function_is_documented(db: psycopg.Connection) -> None:
    doc = db.execute(
        "SELECT obj_description('genome.attribute(uuid, text, timestamptz)'::regprocedure)"
    ).fetchone()[0]
    cols = db.execute(
        "SELECT unnest(proargnames[4:]) FROM pg_proc "
        "WHERE oid = 'genome.attribute(uuid, text, timestamptz)'::regprocedure"
    ).fetchall()
    assert len(cols) > 10
    for (col,) in cols:
        assert col in doc, f"column {col} is not documented"
    for code in ["GN005", "GN001", "GN004", "GN302", "GN303", "GN090"]:
        assert code in doc
