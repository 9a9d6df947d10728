"""The numeric core of experiment analysis against reference implementations: P(best) and
expected loss by numerical integration, effect intervals by a large reference sample,
SRM against scipy's chi-square test, the planned sample against statsmodels."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
from scipy import integrate
from scipy.stats import beta as beta_dist
from scipy.stats import chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

DRAWS = 10_000

POSTERIOR_SQL = """
    SELECT idx, posterior_alpha, posterior_beta, posterior_mean, prob_best, expected_loss,
           effect_mean, effect_lower, effect_upper, relative_effect, relative_lower,
           relative_upper, prob_positive, srm_chi2, srm_p_value
    FROM genome._experiment_posteriors(
        %(grp)s, %(ctrl)s, %(s)s, %(t)s, %(pa)s, %(pb)s, %(imp)s, %(share)s, %(draws)s, %(seed)s)
    ORDER BY idx
"""
KEYS = [
    "idx",
    "a",
    "b",
    "mean",
    "prob_best",
    "loss",
    "effect",
    "effect_lo",
    "effect_hi",
    "rel",
    "rel_lo",
    "rel_hi",
    "p_pos",
    "chi2",
    "srm_p",
]


def _posteriors(db, successes, trials, *, groups=None, prior=(1.0, 1.0), seed=1, shares=None):
    n = len(successes)
    groups = groups or [1] * n
    ctrl = [i == 0 or groups[i] != groups[i - 1] for i in range(n)]
    rows = db.execute(
        POSTERIOR_SQL,
        {
            "grp": groups,
            "ctrl": ctrl,
            "s": [float(x) for x in successes],
            "t": [float(x) for x in trials],
            "pa": [prior[0]] * n,
            "pb": [prior[1]] * n,
            "imp": [float(x) for x in trials],
            "share": shares or [1.0 / n] * n,
            "draws": DRAWS,
            "seed": seed,
        },
    ).fetchall()
    return [dict(zip(KEYS, r, strict=True)) for r in rows]


def _prob_best_exact(params: list[tuple[float, float]], i: int) -> float:
    """P(arm i has the highest rate) = integral of f_i(x) * prod_j F_j(x) dx."""
    a, b = params[i]
    lo = min(beta_dist.ppf(1e-12, pa, pb) for pa, pb in params)
    hi = max(beta_dist.ppf(1 - 1e-12, pa, pb) for pa, pb in params)

    def integrand(x: float) -> float:
        prod = beta_dist.pdf(x, a, b)
        for j, (pa, pb) in enumerate(params):
            if j != i:
                prod *= beta_dist.cdf(x, pa, pb)
        return prod

    value, _ = integrate.quad(integrand, lo, hi, limit=500, points=[a / (a + b)])
    return value


def _expected_loss_exact(params: list[tuple[float, float]], i: int) -> float:
    """E[(theta_j - theta_i)+] for two arms, j the other: integral over theta_i of the Beta's
    partial expectation E[(theta_j - y) 1{theta_j > y}] = m_j (1 - F_{a+1,b}(y)) - y (1 - F_{a,b}(y))."""
    a_i, b_i = params[i]
    a_j, b_j = params[1 - i]
    m_j = a_j / (a_j + b_j)

    def integrand(y: float) -> float:
        tail = m_j * beta_dist.sf(y, a_j + 1, b_j) - y * beta_dist.sf(y, a_j, b_j)
        return beta_dist.pdf(y, a_i, b_i) * tail

    lo, hi = beta_dist.ppf(1e-12, a_i, b_i), beta_dist.ppf(1 - 1e-12, a_i, b_i)
    value, _ = integrate.quad(integrand, lo, hi, limit=500, points=[a_i / (a_i + b_i)])
    return value


@pytest.mark.parametrize(
    ("successes", "trials", "prior"),
    [
        ([120, 150], [10_000, 10_000], (1.0, 1.0)),
        ([3, 7], [40, 45], (1.0, 1.0)),
        ([0, 2], [200, 180], (1.0, 1.0)),
        ([410, 395], [30_000, 29_000], (425.0, 34_000.0)),
        ([55, 80], [5_000, 5_000], (1.0, 1.0)),
    ],
)
def test_prob_best_two_arms_matches_numerical_integration(db, successes, trials, prior) -> None:
    rows = _posteriors(db, successes, trials, prior=prior, seed=7)
    params = [(prior[0] + s, prior[1] + t - s) for s, t in zip(successes, trials, strict=True)]
    for i, row in enumerate(rows):
        assert (row["a"], row["b"]) == pytest.approx(params[i])
        assert row["mean"] == pytest.approx(params[i][0] / sum(params[i]))
        exact = _prob_best_exact(params, i)
        assert abs(row["prob_best"] - exact) < 0.01, (i, row["prob_best"], exact)
        loss = _expected_loss_exact(params, i)
        # Monte Carlo error of a mean of (theta_j - theta_i)+ over DRAWS draws.
        sd = math.sqrt(sum(a * b / ((a + b) ** 2 * (a + b + 1)) for a, b in params))
        assert abs(row["loss"] - loss) < 4 * sd / math.sqrt(DRAWS) + 1e-9, (row["loss"], loss)
    assert rows[0]["prob_best"] + rows[1]["prob_best"] == pytest.approx(1.0)
    # For two arms P(best of the treatment) is P(effect > 0).
    assert rows[1]["p_pos"] == pytest.approx(rows[1]["prob_best"])


def test_prob_best_four_arms_matches_integration_for_any_seed(db) -> None:
    # Numerical integration (docs/experiments.md#pbest-and-expected-loss): the seed no longer
    # matters, and the answer is the exact one well inside Monte Carlo error.
    successes, trials = [100, 112, 118, 95], [8_000, 8_000, 8_000, 8_000]
    params = [(1.0 + s, 1.0 + t - s) for s, t in zip(successes, trials, strict=True)]
    first = _posteriors(db, successes, trials, seed=101)
    second = _posteriors(db, successes, trials, seed=202)
    p1 = np.array([r["prob_best"] for r in first])
    p2 = np.array([r["prob_best"] for r in second])
    assert p1.sum() == pytest.approx(1.0)
    assert list(p1) == list(p2)
    exact = np.array([_prob_best_exact(params, i) for i in range(4)])
    # A tenth of the standard error of DRAWS Monte Carlo draws.
    se = np.sqrt(exact * (1 - exact) / DRAWS)
    assert np.all(np.abs(p1 - exact) <= 0.1 * se + 1e-6), (p1, exact)


def test_effects_against_a_large_reference_sample(db) -> None:
    successes, trials = [90, 130, 70], [9_000, 9_500, 9_200]
    rows = _posteriors(db, successes, trials, seed=3)
    rng = np.random.default_rng(0)
    a = np.array([1.0 + s for s in successes])
    b = np.array([1.0 + t - s for s, t in zip(successes, trials, strict=True)])
    ref = rng.beta(a[:, None], b[:, None], size=(3, 1_000_000))
    assert rows[0]["effect"] is None and rows[0]["p_pos"] is None
    for i in (1, 2):
        diff = ref[i] - ref[0]
        ratio = ref[i] / ref[0] - 1
        row = rows[i]
        width = np.quantile(diff, 0.975) - np.quantile(diff, 0.025)
        assert row["effect"] == pytest.approx(
            a[i] / (a[i] + b[i]) - a[0] / (a[0] + b[0]), abs=0.03 * width
        )
        assert row["effect_lo"] == pytest.approx(np.quantile(diff, 0.025), abs=0.03 * width)
        assert row["effect_hi"] == pytest.approx(np.quantile(diff, 0.975), abs=0.03 * width)
        assert row["p_pos"] == pytest.approx((diff > 0).mean(), abs=0.015)
        rwidth = np.quantile(ratio, 0.975) - np.quantile(ratio, 0.025)
        assert row["rel_lo"] == pytest.approx(np.quantile(ratio, 0.025), abs=0.03 * rwidth)
        assert row["rel_hi"] == pytest.approx(np.quantile(ratio, 0.975), abs=0.03 * rwidth)
        assert row["rel"] == pytest.approx(row["effect"] / rows[0]["mean"])
    # Expected loss is zero for no arm and largest for the worst arm.
    losses = [r["loss"] for r in rows]
    assert min(losses) > 0 and losses.index(max(losses)) == 2


def test_many_groups_in_one_call_are_independent(db) -> None:
    # Three experiments (2, 3 and 4 arms) in one call give what each gives alone.
    s = [[50, 60], [40, 45, 70], [10, 12, 14, 30]]
    t = [[4_000, 4_000], [3_000, 3_000, 3_000], [1_000, 1_000, 1_000, 1_000]]
    groups = [g for g, arms in enumerate(s, start=10) for _ in arms]
    flat_s = [x for arms in s for x in arms]
    flat_t = [x for arms in t for x in arms]
    together = _posteriors(db, flat_s, flat_t, groups=groups, seed=5)
    offset = 0
    for si, ti in zip(s, t, strict=True):
        params = [(1.0 + x, 1.0 + n - x) for x, n in zip(si, ti, strict=True)]
        for i in range(len(si)):
            exact = _prob_best_exact(params, i)
            got = together[offset + i]["prob_best"]
            assert abs(got - exact) <= 4 * math.sqrt(exact * (1 - exact) / DRAWS) + 1e-9
        offset += len(si)


def test_srm_matches_scipy_chisquare(db) -> None:
    # 60/40 delivery against a planned 50/50 split, and a 3-arm unequal plan.
    rows = _posteriors(db, [60, 40], [6_000, 4_000], seed=1)
    ref = chisquare([6_000, 4_000], [5_000, 5_000])
    assert rows[0]["chi2"] == pytest.approx(ref.statistic)
    assert rows[0]["srm_p"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert rows[0]["srm_p"] < 0.001
    rows = _posteriors(db, [5, 5, 5], [2_950, 3_020, 4_030], shares=[0.3, 0.3, 0.4], seed=1)
    ref = chisquare([2_950, 3_020, 4_030], [3_000, 3_000, 4_000])
    assert rows[2]["chi2"] == pytest.approx(ref.statistic)
    assert rows[2]["srm_p"] == pytest.approx(ref.pvalue)
    assert rows[2]["srm_p"] > 0.001
    # A paused arm (planned share 0) is left out of the test.
    rows = _posteriors(db, [5, 5, 5], [5_000, 5_050, 10], shares=[0.5, 0.5, 0.0], seed=1)
    assert rows[0]["srm_p"] == pytest.approx(chisquare([5_000, 5_050]).pvalue)


@pytest.mark.parametrize(
    ("baseline", "mde", "alpha", "power"),
    [
        (0.012, 0.20, 0.05, 0.80),
        (0.02, 0.10, 0.05, 0.90),
        (0.3, 0.05, 0.01, 0.8),
        (0.001, 0.5, 0.1, 0.8),
    ],
)
def test_required_sample_size_matches_statsmodels(db, baseline, mde, alpha, power) -> None:
    got = db.execute(
        "SELECT genome._required_sample_size(%s, %s, %s, %s)", (baseline, mde, alpha, power)
    ).fetchone()[0]
    effect = proportion_effectsize(baseline * (1 + mde), baseline)
    ref = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    assert got == math.ceil(ref), (got, ref)


@pytest.mark.parametrize(
    "args",
    [(0.0, 0.2, 0.05, 0.8), (0.9, 0.2, 0.05, 0.8), (0.01, 0.0, 0.05, 0.8), (0.01, 0.2, 1.5, 0.8)],
)
def test_required_sample_size_refuses_impossible_designs(db, args) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome._required_sample_size(%s, %s, %s, %s)", args)
    assert err.value.sqlstate == "GN607"


@pytest.mark.parametrize(
    "override",
    [
        {"s": [5.0, 50.0], "t": [100.0, 40.0]},  # successes > trials
        {"ctrl": [True, True]},  # two controls in one group
        {"t": [100.0]},  # arrays of different lengths
        {"s": [float("nan"), 1.0]},
        {"draws": 10},
    ],
)
def test_core_refuses_malformed_input(db, override) -> None:
    params = {
        "grp": [1, 1],
        "ctrl": [True, False],
        "s": [5.0, 6.0],
        "t": [100.0, 100.0],
        "pa": [1.0, 1.0],
        "pb": [1.0, 1.0],
        "imp": [100.0, 100.0],
        "share": [0.5, 0.5],
        "draws": DRAWS,
        "seed": 1,
    } | override
    with pytest.raises(psycopg.Error) as err:
        db.execute(POSTERIOR_SQL, params)
    assert err.value.sqlstate == "GN030"
