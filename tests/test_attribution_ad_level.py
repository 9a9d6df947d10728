"""Ads as the units that vary: the ad-level interval of genome.attribute and
genome.interactions (docs/attribution.md#ads-as-the-units), against simulations where each
ad's CTR is its stratum's base x lognormal (how creatives differ) and against statsmodels
where the estimators coincide."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy import stats

from tests.support.attribution import NOW, Ad, add_rewards, make_brand

AUDIENCES = ["broad", "interest", "lookalike"]


def brand_ads(
    rng: np.random.Generator,
    spread: float,
    hooks: list[str],
    lift: dict[str, float] | None = None,
    balanced: bool = False,
    imps_sd: float = 0.0,
) -> list[Ad]:
    """60 ads over 6 strata (3 audiences x 2 ISO weeks), 10 per stratum; base CTR 1-3 % by
    stratum; each ad's CTR = base x lognormal(0, spread); hooks at random (or, balanced,
    equally many per stratum); `lift` multiplies a hook's click odds; about 3,000
    impressions per ad (lognormal sd `imps_sd` around it)."""
    ads = []
    for i in range(6):
        aud, week = AUDIENCES[i % 3], i // 3
        base = 0.01 + 0.004 * i
        for j in range(10):
            hook = hooks[j % len(hooks)] if balanced else hooks[int(rng.integers(len(hooks)))]
            p = base * np.exp(spread * rng.standard_normal())
            odds = p / (1 - p) * (lift or {}).get(hook, 1.0)
            imps = round(3000 * np.exp(imps_sd * rng.standard_normal() - imps_sd**2 / 2))
            imps = max(imps, 50)
            tags = {"hook_type": hook, "audience_type": aud, "awareness_stage": "unaware"}
            clicks = int(rng.binomial(imps, odds / (1 + odds)))
            ads.append(Ad(tags, imps, clicks, 50.0, date(2025, 3, 3) + timedelta(days=7 * week)))
    return ads


def _dicts(cur: psycopg.Cursor) -> list[dict]:
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def attribute_many(db: psycopg.Connection, brands: list[uuid.UUID]) -> list[dict]:
    return _dicts(
        db.execute(
            "SELECT b.id AS brand, a.* FROM unnest(%s::uuid[]) AS b (id) "
            "CROSS JOIN LATERAL genome.attribute(b.id, 'hook_type', %s) AS a",
            (brands, NOW),
        )
    )


def _interactions(db: psycopg.Connection, brands: list[uuid.UUID]) -> list[dict]:
    db.execute("UPDATE genome.settings SET value = '1000' WHERE key = 'interaction_top_n'")
    return _dicts(
        db.execute(
            "SELECT i.* FROM unnest(%s::uuid[]) AS b (id) "
            "CROSS JOIN LATERAL genome.interactions(b.id, %s) AS i",
            (brands, NOW),
        )
    )


def seed_brands(db: psycopg.Connection, ads_per_brand: list[list[Ad]]) -> list[uuid.UUID]:
    brands = []
    for ads in ads_per_brand:
        ids = make_brand(db)
        add_rewards(db, ids, ads)
        brands.append(ids[1])
    return brands


def test_no_element_effect_is_rarely_a_finding(db: psycopg.Connection) -> None:
    """No hook has an effect; ads differ (lognormal sd 0.3, equal impressions; sd 0.5 with
    impressions varying by a factor ~2). 512 value rows: at a true rate of 5 % the observed
    rate exceeds 7 % with probability ~2 %; the impression-level interval, on the same
    rows, calls a large share of them findings."""
    hooks = ["story", "question", "statistic", "urgency"]
    rng = np.random.default_rng(20260)
    scenarios = {0.3: 0.0, 0.5: 0.7}
    rows: dict[float, list[dict]] = {}
    for spread, imps_sd in scenarios.items():
        brands = seed_brands(
            db, [brand_ads(rng, spread, hooks, imps_sd=imps_sd) for _ in range(64)]
        )
        rows[spread] = attribute_many(db, brands)
    total = [r for rs in rows.values() for r in rs]
    assert len(total) >= 500
    rate = np.mean([r["finding"] == "finding" for r in total])
    assert rate <= 0.07, f"{rate:.3f} of null values are findings"
    for spread, rs in rows.items():
        assert np.mean([r["finding"] == "finding" for r in rs]) <= 0.09, spread
        # The impression-level interval (the statsmodels columns) excludes 1 far more often.
        naive = np.mean([not (r["mh_ci_lower"] <= 1 <= r["mh_ci_upper"]) for r in rs])
        assert naive >= 0.25, (spread, naive)
        # The spread is recovered (kappa = exp(sd^2) - 1, CV = its square root) ...
        cv = np.median([r["ad_ctr_cv"] for r in rs])
        assert cv == pytest.approx(np.sqrt(np.expm1(spread**2)), rel=0.2)
        # ... and the ad-level SE matches the SD of the log odds ratios across brands.
        lor = np.log([r["mh_odds_ratio"] for r in rs])
        se = np.sqrt(np.mean([r["mh_log_or_se_ad_level"] ** 2 for r in rs]))
        assert se == pytest.approx(np.std(lor), rel=0.15)
        assert all(r["design_effect"] >= 1 for r in rs)


def test_planted_lift_is_found(db: psycopg.Connection) -> None:
    """story lifts the click odds 1.35x; 60 ads per brand (30 story, 30 question) with
    lognormal spread 0.3: found in >= 80 % of 80 brands, never in the wrong direction."""
    rng = np.random.default_rng(1357)
    brands = seed_brands(
        db,
        [
            brand_ads(rng, 0.3, ["story", "question"], {"story": 1.35}, balanced=True)
            for _ in range(80)
        ],
    )
    story = [r for r in attribute_many(db, brands) if r["value"] == "story"]
    assert len(story) == 80
    found = [r["finding"] == "finding" for r in story]
    assert np.mean(found) >= 0.8, np.mean(found)
    assert all(r["mh_odds_ratio"] > 1 for r, f in zip(story, found, strict=True) if f)


def test_ad_level_interval_equals_quasi_binomial_glm(db: psycopg.Connection) -> None:
    """Where the estimators coincide: one stratum, equal impressions and equal pooled CTR in
    both groups make the ad-level variance a constant dispersion times the binomial one, i.e.
    statsmodels' binomial GLM with that scale; the spread is the pooled within-cell variance
    of the empirical logits (statsmodels OLS on cell dummies) less their binomial variance."""
    rng = np.random.default_rng(5)
    n = 4000
    clicks = {h: rng.binomial(n, 0.02 * np.exp(0.4 * rng.standard_normal(12))) for h in "ab"}
    clicks["b"][0] += clicks["a"].sum() - clicks["b"].sum()  # equal totals
    assert clicks["b"][0] > 0
    hooks = {"a": "story", "b": "question"}
    ads = [
        Ad({"hook_type": hooks[h], "awareness_stage": "unaware"}, n, int(k))
        for h in "ab"
        for k in clicks[h]
    ]
    ids = make_brand(db)
    add_rewards(db, ids, ads)
    row = {r["value"]: r for r in attribute_many(db, [ids[1]])}["story"]

    k = np.concatenate([clicks["a"], clicks["b"]]).astype(float)
    cell = np.repeat([1.0, 0.0], 12)
    logit = np.log((k + 0.5) / (n - k + 0.5))
    v = 1 / (k + 0.5) + 1 / (n - k + 0.5)
    ols = sm.OLS(logit, sm.add_constant(cell)).fit()
    tau2 = ols.scale - sum(v[cell == g].sum() * 11 / 12 for g in (0, 1)) / 22
    kappa = np.expm1(max(tau2, 0.0))
    assert kappa > 0.05
    assert row["ad_ctr_cv"] == pytest.approx(np.sqrt(kappa), rel=1e-9)
    assert row["ad_spread_df"] == 22
    p = k.sum() / (24 * n)
    scale = 1 + kappa * p / (1 - p) * (n - 1)
    glm = sm.GLM(
        np.column_stack([k, n - k]), sm.add_constant(cell), family=sm.families.Binomial()
    ).fit(scale=scale, tol=1e-14)
    assert row["mh_log_or_se_ad_level"] == pytest.approx(glm.bse[1], rel=1e-9)
    assert row["design_effect"] == pytest.approx(scale, rel=1e-9)
    q = stats.t.ppf(0.975, 22)
    lor = np.log(row["mh_odds_ratio"])
    assert lor == pytest.approx(glm.params[1], abs=1e-9)
    assert row["mh_ci_lower_ad_level"] == pytest.approx(np.exp(lor - q * glm.bse[1]), rel=1e-7)
    assert row["mh_ci_upper_ad_level"] == pytest.approx(np.exp(lor + q * glm.bse[1]), rel=1e-7)
    assert row["p_value_ad_level"] == pytest.approx(
        2 * stats.t.sf(abs(lor) / glm.bse[1], 22), rel=1e-7
    )
    # The statsmodels columns are untouched: the RBG SE of one stratum is Woolf's.
    assert row["mh_log_or_se"] == pytest.approx(glm.bse[1] / np.sqrt(scale), rel=1e-9)


def test_one_ad_per_cell_is_not_a_finding(db: psycopg.Connection) -> None:
    """With one ad per value and stratum the element cannot be told from the ad (an ad
    without impressions has no CTR and does not count)."""
    ids = make_brand(db)
    ads = [
        Ad({"hook_type": h, "awareness_stage": "unaware", "audience_type": aud}, 5000, c)
        for aud in [*AUDIENCES, "retargeting"]
        for h, c in [("story", 200), ("question", 100)]
    ]
    ads.append(
        Ad({"hook_type": "story", "awareness_stage": "unaware", "audience_type": "broad"}, 0, 0)
    )
    add_rewards(db, ids, ads)
    row = {r["value"]: r for r in attribute_many(db, [ids[1]])}["story"]
    assert row["mh_ci_lower"] > 1  # impression-level: a clear effect
    assert row["ad_spread_df"] == 0 and row["mh_ci_lower_ad_level"] is None
    assert row["finding"] == "insufficient"
    assert "spread not estimable" in row["finding_reason"]


def test_no_interaction_is_rarely_called_synergy_or_conflict(db: psycopg.Connection) -> None:
    """No interaction (and no element effect); ads differ (lognormal sd 0.5). 40 brands of
    150 ads, hook (3 values) x color (2 values): 240 pairs. The Wald interval calls many of
    them synergy or conflict, the ad-level one few."""
    rng = np.random.default_rng(424242)
    ads_per_brand = []
    for _ in range(40):
        ads = []
        for _ in range(150):
            tags = {
                "hook_type": ["story", "question", "urgency"][int(rng.integers(3))],
                "color_mode": ["brand", "original"][int(rng.integers(2))],
            }
            p = 0.02 * np.exp(0.5 * rng.standard_normal())
            ads.append(Ad(tags, 3000, int(rng.binomial(3000, p))))
        ads_per_brand.append(ads)
    rows = _interactions(db, seed_brands(db, ads_per_brand))
    assert len(rows) == 240
    called = np.mean([r["direction"] != "neutral" for r in rows])
    assert called <= 0.09, called
    wald = np.mean([not (r["ci_lower"] <= 0 <= r["ci_upper"]) for r in rows])
    assert wald >= 0.3, wald
    cv = np.median([r["ad_ctr_cv"] for r in rows])
    assert cv == pytest.approx(np.sqrt(np.expm1(0.25)), rel=0.2)


def breakout_ads(
    rng: np.random.Generator, hooks: list[str], tilt: float, budget_sd: float
) -> list[Ad]:
    """60 ads over 6 strata as brand_ads, no hook with an effect; each ad's CTR = base x
    lognormal(0, 0.3), x 4 for 5% of them (breakout creatives), and its impressions 3,000 x
    lognormal(0, budget_sd) x its CTR multiplier^tilt (Meta serves the ads that click)."""
    ads = []
    for i in range(6):
        aud, week = AUDIENCES[i % 3], i // 3
        base = 0.01 + 0.004 * i
        for _ in range(10):
            hook = hooks[int(rng.integers(len(hooks)))]
            mult = np.exp(0.3 * rng.standard_normal()) * (4.0 if rng.random() < 0.05 else 1.0)
            imps = max(round(3000 * np.exp(budget_sd * rng.standard_normal()) * mult**tilt), 50)
            tags = {"hook_type": hook, "audience_type": aud, "awareness_stage": "unaware"}
            clicks = int(rng.binomial(imps, min(base * mult, 0.5)))
            ads.append(Ad(tags, imps, clicks, 50.0, date(2025, 3, 3) + timedelta(days=7 * week)))
    return ads


def test_breakout_creatives_are_rarely_a_finding(db: psycopg.Connection) -> None:
    """docs/attribution.md#one-ad-one-vote: no hook has an effect, but 5% of the creatives
    click 4 times as much and (tilt 1) Meta serves them the most. The pooled odds ratio's
    ad-level interval, whose spread is one lognormal's, excludes 1 for about a fifth of the
    values; with the ads compared one for one as well, findings stay near the nominal 5%."""
    hooks = ["story", "question", "statistic", "urgency"]
    rng = np.random.default_rng(7)
    rows = {}
    for tilt, budget_sd in ((1.0, 0.8), (0.0, 0.0)):
        brands = seed_brands(db, [breakout_ads(rng, hooks, tilt, budget_sd) for _ in range(64)])
        rows[tilt] = attribute_many(db, brands)
        assert len(rows[tilt]) == 256
        rate = np.mean([r["finding"] == "finding" for r in rows[tilt]])
        assert rate <= 0.07, (tilt, rate)
    pooled_alone = np.mean(
        [not (r["mh_ci_lower_ad_level"] <= 1 <= r["mh_ci_upper_ad_level"]) for r in rows[1.0]]
    )
    assert pooled_alone >= 0.15


def test_the_ads_one_for_one_are_a_fixed_effects_regression(db: psycopg.Connection) -> None:
    """ad_mean_log_or is statsmodels' OLS coefficient of the value in a regression of the ads'
    empirical logits on stratum dummies and the value (each stratum's difference of means
    weighted by n1 n0 / (n1 + n0)); its p-value the t test with the OLS scale of the
    regression on one dummy per cell (stratum x hook), its residual degrees of freedom."""
    hooks = ["story", "question", "statistic"]
    rng = np.random.default_rng(31)
    ads = breakout_ads(rng, hooks, 1.0, 0.8)
    ids = make_brand(db)
    add_rewards(db, ids, ads)
    got = {r["value"]: r for r in attribute_many(db, [ids[1]])}
    k = np.array([a.clicks for a in ads], dtype=float)
    n = np.array([a.impressions for a in ads], dtype=float)
    logit = np.log((k + 0.5) / (n - k + 0.5))
    stratum = np.array([f"{a.tags['audience_type']}|{a.first_date}" for a in ads])
    hook = np.array([a.tags["hook_type"] for a in ads])
    cells = np.unique(np.char.add(np.char.add(stratum, "|"), hook), return_inverse=True)[1]
    scale_fit = sm.OLS(logit, np.eye(cells.max() + 1)[cells]).fit()
    scale = max(scale_fit.scale, np.mean(1 / (k + 0.5) + 1 / (n - k + 0.5)))
    for value in hooks:
        mine = hook == value
        both = [
            s
            for s in np.unique(stratum)
            if mine[stratum == s].any() and (~mine[stratum == s]).any()
        ]
        use = np.isin(stratum, both)
        strata = np.unique(stratum[use], return_inverse=True)[1]
        X = np.column_stack([np.eye(strata.max() + 1)[strata], mine[use]])
        beta = sm.OLS(logit[use], X).fit().params[-1]
        weight = sum(
            1 / (1 / mine[stratum == s].sum() + 1 / (~mine[stratum == s]).sum()) for s in both
        )
        p = 2 * stats.t.sf(abs(beta) * np.sqrt(weight / scale), scale_fit.df_resid)
        assert got[value]["ad_mean_log_or"] == pytest.approx(beta, rel=1e-9, abs=1e-12)
        assert got[value]["ad_mean_p_value"] == pytest.approx(p, rel=1e-7)


def _pair_ads(rng: np.random.Generator, tilt: float, budget_sd: float) -> list[Ad]:
    """150 ads, hook (3 values) x color (2 values) at random, no effect of either and no
    interaction; CTR 2% x lognormal(0, 0.3), x 4 for 5% of the ads (breakouts), impressions
    3,000 x lognormal(0, budget_sd) x the CTR multiplier^tilt."""
    ads = []
    for _ in range(150):
        tags = {
            "hook_type": ["story", "question", "urgency"][int(rng.integers(3))],
            "color_mode": ["brand", "original"][int(rng.integers(2))],
        }
        mult = np.exp(0.3 * rng.standard_normal()) * (4.0 if rng.random() < 0.05 else 1.0)
        imps = max(int(3000 * np.exp(budget_sd * rng.standard_normal()) * mult**tilt), 50)
        ads.append(Ad(tags, imps, int(rng.binomial(imps, min(0.02 * mult, 0.5)))))
    return ads


def test_breakout_creatives_make_few_interactions(db: psycopg.Connection) -> None:
    """docs/attribution.md#one-ad-one-vote: no interaction, breakout creatives that Meta
    serves most. The pooled contrast's ad-level interval calls a large share of the 240 pairs
    synergy or conflict; with the ads' one-for-one contrast required as well, few."""
    rng = np.random.default_rng(99)
    rows = _interactions(db, seed_brands(db, [_pair_ads(rng, 1.0, 0.8) for _ in range(40)]))
    assert len(rows) == 240
    called = np.mean([r["direction"] != "neutral" for r in rows])
    assert called <= 0.08, called
    pooled = np.mean([not (r["ci_lower_ad_level"] <= 0 <= r["ci_upper_ad_level"]) for r in rows])
    assert pooled >= 0.25, pooled


def test_the_ads_one_for_one_interaction_is_a_saturated_regression(
    db: psycopg.Connection,
) -> None:
    """ad_mean_interaction is the A x B coefficient of statsmodels' OLS of the ads' empirical
    logits on has-value-a, has-value-b and both; its interval uses the OLS scale of the
    regression on one dummy per hook x color cell (at least the mean binomial variance)."""
    rng = np.random.default_rng(5)
    ads = _pair_ads(rng, 1.0, 0.8)
    ids = make_brand(db)
    add_rewards(db, ids, ads)
    rows = _interactions(db, [ids[1]])
    k = np.array([a.clicks for a in ads], dtype=float)
    n = np.array([a.impressions for a in ads], dtype=float)
    logit = np.log((k + 0.5) / (n - k + 0.5))
    combo = np.array([a.tags["color_mode"] + "|" + a.tags["hook_type"] for a in ads])
    cells = np.unique(combo, return_inverse=True)[1]
    fit = sm.OLS(logit, np.eye(cells.max() + 1)[cells]).fit()
    scale = max(fit.scale, np.mean(1 / (k + 0.5) + 1 / (n - k + 0.5)))
    q = stats.t.ppf(0.975, fit.df_resid)
    assert len(rows) == 6
    for r in rows:
        a = np.array([x.tags[r["dimension_a"]] == r["value_a"] for x in ads], dtype=float)
        b = np.array([x.tags[r["dimension_b"]] == r["value_b"] for x in ads], dtype=float)
        X = np.column_stack([np.ones(len(ads)), a, b, a * b])
        coef = sm.OLS(logit, X).fit().params[3]
        counts = [np.sum((a == i) & (b == j)) for i in (0, 1) for j in (0, 1)]
        half = q * np.sqrt(scale * np.sum(1 / np.array(counts)))
        assert r["ad_mean_interaction"] == pytest.approx(coef, rel=1e-9, abs=1e-12)
        assert r["ad_mean_ci_lower"] == pytest.approx(coef - half, rel=1e-7, abs=1e-9)
        assert r["ad_mean_ci_upper"] == pytest.approx(coef + half, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize(
    ("ns_value", "sl_value"), [([-1.0], [0.0]), ([2.0], [float("nan")]), ([2.0, 1.0], [0.0])]
)
def test_the_one_for_one_inputs_are_checked(db: psycopg.Connection, ns_value, sl_value) -> None:
    with pytest.raises(psycopg.Error, match=r"table counts|differ in length") as err:
        db.execute(
            "SELECT * FROM genome._attribution_stats(%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s)",
            (
                *(["story"], [5.0], [95.0], [4.0], [96.0], [1e4], [1e4], 0.1, 3.0),
                *(ns_value, [2.0], sl_value, [-3.0], 0.2),
            ),
        )
    assert err.value.sqlstate == "GN030"
