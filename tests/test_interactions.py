"""genome.interactions: element-pair interaction effects, checked against a binomial GLM."""

from __future__ import annotations

import itertools
import math
import uuid
from datetime import timedelta

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy import stats

from tests.support.attribution import NOW, Ad, add_rewards, make_brand

ELEMENTS = {
    "hook_type": ["story", "question", "statistic", "urgency"],
    "color_mode": ["brand", "original", "complementary"],
    "visual_style": ["minimal", "photographic", "illustration"],
}


def interactions(db: psycopg.Connection, brand: uuid.UUID, now=NOW) -> list[dict]:
    cur = db.execute("SELECT * FROM genome.interactions(%s, %s)", (brand, now))
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def random_ads(rng: np.random.Generator, n: int = 600) -> list[Ad]:
    """Random element combinations (some dimensions missing), context and attribute tags
    that must be ignored, and CTRs with a few real interactions; each ad's CTR spreads around
    its combination's (lognormal, sd 0.3) as creatives do."""
    ads = []
    for _ in range(n):
        tags = {"awareness_stage": "unaware", "canvas_size": "1080x1080px"}
        for dim, values in ELEMENTS.items():
            if rng.random() < 0.9:
                tags[dim] = values[int(rng.integers(len(values)))]
        logit = -4.0 + 0.3 * (tags.get("hook_type") == "story")
        logit += 0.5 * (tags.get("hook_type") == "urgency" and tags.get("color_mode") == "brand")
        logit -= 0.4 * (
            tags.get("visual_style") == "minimal" and tags.get("color_mode") == "original"
        )
        logit += 0.3 * rng.standard_normal()
        imps = int(rng.integers(200, 3000))
        clicks = int(rng.binomial(imps, 1 / (1 + math.exp(-logit))))
        ads.append(Ad(tags, imps, clicks))
    return ads


def cells(ads: list[Ad], da: str, va: str, db_: str, vb: str) -> np.ndarray:
    """[[k, m] for cells (x_a, x_b) = 11, 10, 01, 00], pooled over ads."""
    out = np.zeros((4, 2))
    for ad in ads:
        xa, xb = ad.tags.get(da) == va, ad.tags.get(db_) == vb
        i = {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(xa, xb)]
        out[i] += (ad.clicks, ad.impressions - ad.clicks)
    return out


def spread(ads: list[Ad], da: str, db_: str) -> tuple[float, int]:
    """kappa (squared CV of CTR between ads sharing both values) and its df, from the ads'
    empirical logits: pooled within-cell variance less the mean binomial variance."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for ad in ads:
        if da in ad.tags and db_ in ad.tags:
            k, m = ad.clicks + 0.5, ad.impressions - ad.clicks + 0.5
            groups.setdefault((ad.tags[da], ad.tags[db_]), []).append(
                (math.log(k / m), 1 / k + 1 / m)
            )
    ss = sum(np.var([g[0] for g in gr]) * len(gr) for gr in groups.values())
    sv = sum(sum(g[1] for g in gr) * (len(gr) - 1) / len(gr) for gr in groups.values())
    df = sum(len(gr) - 1 for gr in groups.values())
    return math.expm1(max((ss - sv) / df, 0.0)), df


def cell_s2(ads: list[Ad], da: str, va: str, db_: str, vb: str) -> np.ndarray:
    """Sum of squared impressions per cell 11, 10, 01, 00."""
    out = np.zeros(4)
    for ad in ads:
        xa, xb = ad.tags.get(da) == va, ad.tags.get(db_) == vb
        out[{(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(xa, xb)]] += (
            float(ad.impressions) ** 2
        )
    return out


def expected_pairs(ads: list[Ad]) -> dict[tuple, tuple[float, float, np.ndarray, float, float]]:
    """Every co-occurring pair without a zero cell: (effect, se, cells, ad-level se, t quantile)."""
    out = {}
    dims = sorted(ELEMENTS)
    for da, db_ in itertools.combinations(dims, 2):
        kappa, df = spread(ads, da, db_)
        for va in ELEMENTS[da]:
            for vb in ELEMENTS[db_]:
                c = cells(ads, da, va, db_, vb)
                if (c == 0).any():
                    continue
                lg = np.log(c[:, 0] / c[:, 1])
                n = c.sum(axis=1)
                deff = 1 + kappa * c[:, 0] / c[:, 1] * (cell_s2(ads, da, va, db_, vb) / n - 1)
                out[(da, va, db_, vb)] = (
                    lg[0] - lg[1] - lg[2] + lg[3],
                    math.sqrt((1 / c).sum()),
                    c,
                    math.sqrt(((1 / c).sum(axis=1) * deff).sum()),
                    stats.t.ppf(0.975, df),
                )
    return out


# A saturated GLM has no residual degrees of freedom: statsmodels warns about its scale
# (fixed at 1 for the binomial) and about "perfect prediction" of the fitted cells.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in scalar divide")
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide")
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_effects_equal_saturated_glm_and_ranking(db: psycopg.Connection, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = make_brand(db)
    ads = random_ads(rng)
    add_rewards(db, ids, ads)
    got = interactions(db, ids[1])
    exp = expected_pairs(ads)
    assert len(exp) > 15
    assert len(got) == 15
    # The top 15 by |effect| / ad-level SE, in that order.
    want = sorted(exp, key=lambda k: (-abs(exp[k][0]) / exp[k][3], k))[:15]
    assert [(r["dimension_a"], r["value_a"], r["dimension_b"], r["value_b"]) for r in got] == want
    assert [r["rank"] for r in got] == list(range(1, 16))
    assert all(r["design_effect"] > 1.05 for r in got)
    for r in got:
        key = (r["dimension_a"], r["value_a"], r["dimension_b"], r["value_b"])
        c = exp[key][2]
        x = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]], dtype=float)
        fit = sm.GLM(c, x, family=sm.families.Binomial()).fit(tol=1e-14)
        assert r["interaction_log_or"] == pytest.approx(fit.params[3], rel=1e-8)
        assert r["se"] == pytest.approx(fit.bse[3], rel=1e-8)
        lo, hi = fit.conf_int()[3]
        assert r["ci_lower"] == pytest.approx(lo, rel=1e-8)
        assert r["ci_upper"] == pytest.approx(hi, rel=1e-8)
        assert r["z"] == pytest.approx(fit.params[3] / fit.bse[3], rel=1e-8)
        assert r["n_ads"] == len(ads)
        assert r["n_both"] == sum(
            1 for a in ads if a.tags.get(key[0]) == key[1] and a.tags.get(key[2]) == key[3]
        )
        assert r["n_a"] == sum(1 for a in ads if a.tags.get(key[0]) == key[1])
        assert r["n_b"] == sum(1 for a in ads if a.tags.get(key[2]) == key[3])
        assert r["clicks_both"] == c[0, 0] and r["impressions_both"] == c[0].sum()
        # ctr_both_additive: the pair's CTR with the interaction term set to zero.
        additive = fit.params[0] + fit.params[1] + fit.params[2]
        assert r["ctr_both_additive"] == pytest.approx(1 / (1 + math.exp(-additive)), rel=1e-8)
        se_ad, q = exp[key][3], exp[key][4]
        assert r["se_ad_level"] == pytest.approx(se_ad, rel=1e-8)
        assert r["design_effect"] == pytest.approx((se_ad / fit.bse[3]) ** 2, rel=1e-8)
        assert r["z_ad_level"] == pytest.approx(fit.params[3] / se_ad, rel=1e-8)
        lo = r["interaction_log_or"] - q * se_ad
        hi = r["interaction_log_or"] + q * se_ad
        assert r["ci_lower_ad_level"] == pytest.approx(lo, rel=1e-7, abs=1e-12)
        assert r["ci_upper_ad_level"] == pytest.approx(hi, rel=1e-7, abs=1e-12)
        # A direction needs the ads' one-for-one contrast on the same side
        # (docs/attribution.md#one-ad-one-vote; its values: test_attribution_ad_level.py).
        one_lo, one_hi = r["ad_mean_ci_lower"], r["ad_mean_ci_upper"]
        expected_dir = (
            "synergy"
            if lo > 0 and one_lo is not None and one_lo > 0
            else "conflict"
            if hi < 0 and one_hi is not None and one_hi < 0
            else "neutral"
        )
        assert r["direction"] == expected_dir
        assert r["label"] == "correlational"
        assert r["dimension_a"] < r["dimension_b"]
        assert "canvas_size" not in key and "awareness_stage" not in key


def planted_ads() -> list[Ad]:
    """story + brand doubles the CTR that story and brand each have alone; minimal +
    question halves it; everything else sits at 2 %."""
    ads = []
    for hook, color, visual in itertools.product(
        ["story", "question", "statistic"],
        ["brand", "original", "complementary"],
        ["minimal", "photographic", "illustration"],
    ):
        ctr = 0.02
        if hook == "story" and color == "brand":
            ctr = 0.04
        if hook == "question" and visual == "minimal":
            ctr = 0.01
        tags = {"hook_type": hook, "color_mode": color, "visual_style": visual}
        ads += [Ad(tags, 5000, round(5000 * ctr))] * 10
    return ads


def test_planted_synergy_ranks_first(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, planted_ads())
    got = interactions(db, ids[1])
    top = got[0]
    assert (top["dimension_a"], top["value_a"], top["dimension_b"], top["value_b"]) == (
        "color_mode",
        "brand",
        "hook_type",
        "story",
    )
    assert top["direction"] == "synergy"
    assert top["interaction_log_or"] > 0 and top["ci_lower"] > 0
    assert top["ctr_both"] == pytest.approx(0.04)
    assert top["ctr_both_additive"] < top["ctr_both"]
    conflict = [r for r in got if (r["value_a"], r["value_b"]) == ("question", "minimal")]
    assert len(conflict) == 1 and conflict[0]["direction"] == "conflict"
    assert conflict[0]["ci_upper"] < 0


def test_pairs_with_a_zero_cell_are_skipped(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    ads = planted_ads()
    # urgency + complementary: shown together but never clicked.
    ads += [Ad({"hook_type": "urgency", "color_mode": "complementary"}, 5000, 0)] * 3
    ads += [Ad({"hook_type": "urgency", "color_mode": "brand"}, 5000, 100)] * 3
    ads += [Ad({"hook_type": "urgency", "color_mode": "original"}, 5000, 100)] * 3
    add_rewards(db, ids, ads)
    db.execute("UPDATE genome.settings SET value = '1000' WHERE key = 'interaction_top_n'")
    got = interactions(db, ids[1])
    pairs = {(r["value_a"], r["value_b"]) for r in got}
    assert ("brand", "urgency") in pairs
    assert ("complementary", "urgency") not in pairs
    assert all(r["clicks_both"] > 0 for r in got)


def test_top_n_from_settings(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    add_rewards(db, ids, planted_ads())
    assert len(interactions(db, ids[1])) == 15
    db.execute("UPDATE genome.settings SET value = '3' WHERE key = 'interaction_top_n'")
    got = interactions(db, ids[1])
    assert [r["rank"] for r in got] == [1, 2, 3]


def test_p_now_excludes_rewards_matured_later(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    later = NOW + timedelta(days=2)
    ads = planted_ads()
    ads += [Ad({"hook_type": "urgency", "color_mode": "brand"}, 5000, 400, matured_at=later)] * 4
    add_rewards(db, ids, ads)
    db.execute("UPDATE genome.settings SET value = '1000' WHERE key = 'interaction_top_n'")
    before = interactions(db, ids[1], NOW)
    assert all("urgency" not in (r["value_a"], r["value_b"]) for r in before)
    assert {r["n_ads"] for r in before} == {270}
    after = interactions(db, ids[1], later)
    assert {r["n_ads"] for r in after} == {274}


def test_empty_brand_returns_nothing(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    assert interactions(db, ids[1]) == []


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        ((None, NOW), "GN005"),
        (("BRAND", None), "GN004"),
        ((uuid.UUID(int=7), NOW), "GN001"),
    ],
)
def test_bad_input_raises_own_sqlstate(db: psycopg.Connection, args: tuple, sqlstate: str) -> None:
    ids = make_brand(db)
    args = tuple(ids[1] if a == "BRAND" else a for a in args)
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM genome.interactions(%s, %s)", args)
    assert exc.value.sqlstate == sqlstate


def test_bad_top_n_setting_raises(db: psycopg.Connection) -> None:
    ids = make_brand(db)
    db.execute("UPDATE genome.settings SET value = '0' WHERE key = 'interaction_top_n'")
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM genome.interactions(%s, %s)", (ids[1], NOW))
    assert exc.value.sqlstate == "GN090"


def test_function_is_documented(db: psycopg.Connection) -> None:
    sig = "'genome.interactions(uuid, timestamptz)'::regprocedure"
    doc = db.execute(f"SELECT obj_description({sig})").fetchone()[0]
    cols = db.execute(f"SELECT unnest(proargnames[3:]) FROM pg_proc WHERE oid = {sig}").fetchall()
    assert len(cols) > 10
    for (col,) in cols:
        assert col in doc, f"column {col} is not documented"
    for code in ["GN005", "GN001", "GN004", "GN090"]:
        assert code in doc
    assert "|interaction_log_or| / se" in doc
