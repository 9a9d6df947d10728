"""The joint learner's value stage (docs/learning.md#value-stage): the lognormal fit of each
ad's order value per purchase against weighted least squares, its intervals under creative
scatter and unequal purchase counts, and a conversion brand whose values differ in order
value only, drawn by revenue per impression through update_scores."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy.stats import norm

from sim import factories as f
from tests.test_learner import DAY, T0, _conversion_ads, _dimensions, _entries, _one_hot, _use


def _value_fit(db, designs, values, counts, levels, *, prior_sd=1e4):
    """genome._joint_lognormal_fit on a design (tests/test_learner.py's _entries)."""
    k, ad_index, param_index, groups, _ = _entries(designs, levels)
    row = db.execute(
        "SELECT posterior_mean, posterior_cholesky, dispersion, marginal_mean "
        "FROM genome._joint_lognormal_fit(%s, %s, %s, %s, %s, %s, %s, %s, %s, 1.0)",
        (
            ad_index,
            param_index,
            [float(x) for x in values],
            [float(x) for x in counts],
            [1.0] * len(designs),
            [1] * len(designs),
            [0.0] * k,
            [1e4] + [prior_sd] * (k - 1),
            groups,
        ),
    ).fetchone()
    chol = np.asarray(row[1]).reshape(k, k)
    return {
        "mean": np.asarray(row[0]),
        "cov": chol @ chol.T,
        "dispersion": row[2],
        "marginal_mean": row[3],
    }


def _contrasts(levels):
    """Rows of each value minus the first value of its dimension, in the fit's coding."""
    offsets = np.cumsum([1, *levels])[:-1]
    rows = []
    for o, n in zip(offsets, levels, strict=True):
        for v in range(1, n):
            r = np.zeros(1 + sum(levels))
            r[o + v], r[o] = 1.0, -1.0
            rows.append(r)
    return np.array(rows)


def test_equal_purchases_give_ordinary_least_squares(db: psycopg.Connection) -> None:
    # Balanced: each value of one dimension on 30 ads of 20 purchases. The ads' variance is
    # then one number whichever way it splits into order spread and creative scatter, and
    # the fit is OLS on the log value per purchase, with OLS's scale RSS / (n - p).
    rng = np.random.default_rng(8)
    levels = [4]
    designs = [(i % 4,) for i in range(120)]
    X = _one_hot(designs, levels)
    true = np.array([3.5, 0.0, 0.1, -0.2, 0.25])
    counts = np.full(120, 20.0)
    log_aov = X @ true + rng.normal(0, 0.6 / np.sqrt(20), 120) + rng.normal(0, 0.1, 120)
    fit = _value_fit(db, designs, np.exp(log_aov) * counts, counts, levels)
    ols = sm.OLS(log_aov, X[:, [0, 2, 3, 4]]).fit()
    np.testing.assert_allclose(X @ fit["mean"], ols.fittedvalues, atol=1e-6)
    C = _contrasts(levels)
    np.testing.assert_allclose(
        np.diag(C @ fit["cov"] @ C.T), np.diag(ols.cov_params())[1:], rtol=1e-3
    )


def test_without_creative_scatter_the_fit_is_weighted_least_squares(
    db: psycopg.Connection,
) -> None:
    # Unequal purchases, order spread only: each ad's mean log value has variance
    # sigma2 / purchases, so the fit weights ads by their purchases (statsmodels WLS).
    rng = np.random.default_rng(9)
    levels = [3, 4]
    designs = [tuple(int(rng.integers(n)) for n in levels) for _ in range(200)]
    X = _one_hot(designs, levels)
    true = np.concatenate([[3.8], rng.normal(0, 0.2, X.shape[1] - 1)])
    counts = rng.integers(2, 150, 200).astype(float)
    log_aov = X @ true + rng.normal(0, 0.7, 200) / np.sqrt(counts)
    fit = _value_fit(db, designs, np.exp(log_aov) * counts, counts, levels)
    keep = [0, 2, 3, 5, 6, 7]
    wls = sm.WLS(log_aov, X[:, keep], weights=counts).fit()
    # The estimated scatter share is small, so the weights are nearly the purchases.
    np.testing.assert_allclose(X @ fit["mean"], wls.fittedvalues, atol=0.01)
    assert fit["dispersion"] < 1.2


def test_intervals_cover_the_truth_under_creative_scatter(db: psycopg.Connection) -> None:
    # 40 brands of 90 ads, purchases from 2 to ~400 (unequal delivery), order spread sd 0.8
    # and creative scatter sd 0.2: weighting ads by their purchases alone would let the few
    # heavy ads' own luck decide; the two variance components keep the 90% intervals honest.
    rng = np.random.default_rng(10)
    levels = [3, 3]
    C = _contrasts(levels)
    z = norm.ppf(0.95)
    covered, covered_naive = [], []
    for _ in range(40):
        designs = [tuple(int(rng.integers(n)) for n in levels) for _ in range(90)]
        X = _one_hot(designs, levels)
        true = np.concatenate([[4.0], rng.normal(0, 0.2, 6)])
        counts = np.maximum(np.round(np.exp(rng.normal(2.5, 1.2, 90))), 2.0)
        log_aov = X @ true + rng.normal(0, 0.8, 90) / np.sqrt(counts) + rng.normal(0, 0.2, 90)
        fit = _value_fit(db, designs, np.exp(log_aov) * counts, counts, levels)
        est, sd = C @ fit["mean"], np.sqrt(np.diag(C @ fit["cov"] @ C.T))
        covered.extend(np.abs(est - C @ true) <= z * sd)
        keep = [0, 2, 3, 5, 6]
        wls = sm.WLS(log_aov, X[:, keep], weights=counts).fit()
        nd = np.sqrt(np.diag(wls.cov_params()))
        naive_est = np.concatenate([wls.params[1:3], wls.params[3:5]])
        covered_naive.extend(np.abs(naive_est - C @ true) <= z * nd[1:])
    assert 0.84 <= np.mean(covered) <= 0.97, np.mean(covered)
    assert np.mean(covered_naive) < np.mean(covered) - 0.05, (
        np.mean(covered_naive),
        np.mean(covered),
    )


def test_too_few_ads_leave_the_prior(db: psycopg.Connection) -> None:
    # Three ads cannot estimate the two variance components for four parameters: the
    # posterior is the prior's, not a fit at a made-up spread (docs/learning.md#value-stage).
    fit = _value_fit(
        db, [(0,), (1,), (2,)], [300.0, 90.0, 40.0], [3.0, 2.0, 1.0], [3], prior_sd=0.3
    )
    np.testing.assert_allclose(fit["mean"], np.zeros(4), atol=1e-12)
    np.testing.assert_allclose(np.diag(fit["cov"]), [1e8, 0.09, 0.09, 0.09], rtol=1e-9)
    assert fit["dispersion"] == 1.0


def test_the_value_fit_refuses_impossible_counts(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InternalError_, match="counts positive"):
        _value_fit(db, [(0,), (1,)], [10.0, 20.0], [0.0, 2.0], [2])


def test_a_conversion_brand_is_drawn_by_revenue_per_impression(db: psycopg.Connection) -> None:
    # Three values with the same clicks and purchases, ad for ad; value a's orders are worth
    # 40% more. The rate stages cannot tell them apart; the value stage makes a the draw.
    # Thompson draws (learner_draw_scale 1, docs/learning.md#win-probabilities): the values no
    # ad carried keep their prior's full width, and a's share beside them is the one asserted.
    _use(db, "joint_logistic", learner_draw_scale=1.0)
    dim, values = next((d, v) for d, v in _dimensions(db).items() if len(v) >= 3)
    a, b, c = values[:3]
    aov = {a: 70.0, b: 50.0, c: 50.0}
    rng = np.random.default_rng(12)
    tags, impressions, clicks, purchases, value = [], [], [], [], []
    for i in range(180):
        v = (a, b, c)[i % 3]
        k = 560 + 10 * (i // 3 % 9)
        p = 12 + i // 3 % 25
        tags.append({dim: v})
        impressions.append(20000)
        clicks.append(k)
        purchases.append(p)
        value.append(float(np.sum(aov[v] * np.exp(rng.normal(0, 0.5, p)))) if p else 0.0)
    # Value matures with ROAS (10 days, genome.reward_metrics): 120 ads are old enough,
    # the 60 newest only for clicks and purchases.
    old, young = (T0 - 12 * DAY).date(), (T0 - 8 * DAY).date()
    dates = [old] * 120 + [young] * 60
    brand_id = f.brand(db)
    _conversion_ads(db, brand_id, tags, impressions, clicks, purchases, dates, value)

    def wins() -> dict[str, float]:
        return dict(
            db.execute(
                "SELECT element_value, win_probability FROM genome.creative_element_scores "
                "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = %s",
                (brand_id, dim),
            ).fetchall()
        )

    db.execute("SELECT genome.update_scores(%s)", (T0,))
    stages = db.execute(
        "SELECT array_agg(stage ORDER BY stage), array_agg(value_stage ORDER BY stage), "
        "array_agg(n_ads ORDER BY stage) FROM genome.learner_posteriors WHERE brand_id = %s",
        (brand_id,),
    ).fetchone()
    with_purchases = sum(1 for p, d in zip(purchases, dates, strict=True) if p and d == old)
    assert stages == ([1, 2, 3], [False, False, True], [180, 180, with_purchases])
    # Values no ad carried keep their prior and their share of the draws; among the three
    # the brand tried, a is the draw.
    assert wins()[a] > 10 * max(wins()[b], wins()[c]) and wins()[a] > 0.05
    # The stored Beta stays purchases per impression: order value does not enter it.
    means = dict(
        db.execute(
            "SELECT element_value, posterior_alpha / (posterior_alpha + posterior_beta) "
            "FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NULL "
            "AND element_dimension = %s",
            (brand_id, dim),
        ).fetchall()
    )
    assert 0.5 * 24 / 20000 < means[a] < 2 * 24 / 20000
    for v in (b, c):
        assert means[v] == pytest.approx(means[a], rel=1e-6)
    # The brand is due again when the young ads' value matures, with no write in between.
    due = db.execute(
        "SELECT due_at FROM genome.learning_dirty_brands WHERE brand_id = %s", (brand_id,)
    ).fetchone()[0]
    assert due == db.execute("SELECT (%s::date + 10)::timestamptz", (young,)).fetchone()[0]
    # Without the value stage the three values are one to the learner.
    db.execute("DELETE FROM genome.learner_objective_evidence WHERE stage = 3")
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    tried = [wins()[v] for v in (a, b, c)]
    assert max(tried) < 1.5 * min(tried), tried
