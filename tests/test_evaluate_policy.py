"""genome.evaluate_policy: off-policy estimates from logged propensities, checked against a
simulated truth and against the same estimators computed in numpy."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb
from scipy import stats
from scipy.special import expit

from sim import factories as f

NOW = f.at(dt.date(2025, 6, 2))
HOOKS = ("story", "question", "statistic")
COLORS = ("original", "complementary", "brand")
LOGGING = {"hook_type": (0.6, 0.3, 0.1), "color_mode": (0.5, 0.3, 0.2)}
TARGET = {"hook_type": (0.1, 0.2, 0.7), "color_mode": (0.2, 0.2, 0.6)}
# The simulated truth: success probability of each (hook, color).
P_SUCCESS = {
    (h, c): 0.2 + 0.25 * i + 0.1 * j
    for (i, h), (j, c) in itertools.product(enumerate(HOOKS), enumerate(COLORS))
}


def _policy(probs: dict[str, tuple[float, ...]]) -> dict[str, dict[str, float]]:
    values = {"hook_type": HOOKS, "color_mode": COLORS}
    return {d: dict(zip(values[d], p, strict=True)) for d, p in probs.items()}


def _rewards(db: psycopg.Connection, brand: object) -> list[tuple[dict[str, str], float]]:
    """The brand's ads as (element_tags, reward_score), in the order of their ids."""
    return db.execute(
        "SELECT element_tags, reward_score FROM genome.creative_element_rewards "
        "WHERE brand_id = %s ORDER BY generated_ad_id",
        (brand,),
    ).fetchall()


def _logged(
    db: psycopg.Connection, n: int, target_probs: dict[str, tuple[float, ...]] = TARGET
) -> tuple[object, np.ndarray, np.ndarray]:
    """A brand with n ads logged by LOGGING; their rewards and weights for target_probs."""
    rng = np.random.default_rng(5)
    run = f.ad_run(db, f.product(db, brand := f.brand(db)), max_attempts=n)
    hooks = rng.choice(3, n, p=LOGGING["hook_type"])
    colors = rng.choice(3, n, p=LOGGING["color_mode"])
    ys = np.array(
        [
            rng.random() < P_SUCCESS[(HOOKS[h], COLORS[c])]
            for h, c in zip(hooks, colors, strict=True)
        ],
        dtype=float,
    )
    items = [
        ({"hook_type": HOOKS[h], "color_mode": COLORS[c]}, float(y))
        for h, c, y in zip(hooks, colors, ys, strict=True)
    ]
    ids = f.bulk_rewards(db, run, items, NOW - dt.timedelta(days=1))
    # Each ad's logged propensity is the logging policy's probability of its own values,
    # inside the selection record plan_ads logs.
    db.execute(
        """
        UPDATE generated_ads AS g
        SET element_propensities = jsonb_build_object('propensities', jsonb_build_object(
            'hook_type', %(m)s::jsonb -> 'hook_type' -> (g.element_tags ->> 'hook_type'),
            'color_mode', %(m)s::jsonb -> 'color_mode' -> (g.element_tags ->> 'color_mode')))
        WHERE g.id = ANY(%(ids)s)
        """,
        {"m": Jsonb(_policy(LOGGING)), "ids": ids},
    )
    rows = _rewards(db, brand)
    target, logging = _policy(target_probs), _policy(LOGGING)
    weights = np.array(
        [np.prod([target[d][t[d]] / logging[d][t[d]] for d in target]) for t, _ in rows]
    )
    ys = np.array([y for _, y in rows])
    return brand, ys, weights


def _intervals(w: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """evaluate_policy's estimators in numpy: per estimator (estimate, se, t quantile) with
    the self-normalised se by the jackknife over ads and the t at the effective sample size
    less one (docs/learning.md#off-policy-evaluation)."""
    n = len(y)
    ips = float(np.mean(w * y))
    snips = float(np.sum(w * y) / np.sum(w))
    loo = (np.sum(w * y) - w * y) / (np.sum(w) - w)
    jack = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    ess = float(w.sum() ** 2 / np.sum(w**2))
    t = float(stats.t.ppf(0.975, max(ess - 1.0, 1.0)))
    return {
        "ips": (ips, float(np.std(w * y, ddof=1) / np.sqrt(n)), t),
        "snips": (snips, jack, t),
    }


def _evaluate(
    db: psycopg.Connection, brand: object, policy: object, metric: str = "reward"
) -> dict:
    return db.execute(
        "SELECT genome.evaluate_policy(%s, %s, %s, %s)", (brand, Jsonb(policy), NOW, metric)
    ).fetchone()[0]


def test_estimates_match_numpy_and_cover_the_true_value(db: psycopg.Connection) -> None:
    brand, ys, w = _logged(db, 3000)
    out = _evaluate(db, brand, _policy(TARGET))
    assert out["n"] == 3000
    # The same estimators in numpy.
    for est, (estimate, se, t) in _intervals(w, ys).items():
        assert out[est]["estimate"] == pytest.approx(estimate)
        assert out[est]["se"] == pytest.approx(se)
        assert out[est]["lower"] == pytest.approx(max(estimate - t * se, 0.0))
        assert out[est]["upper"] == pytest.approx(min(estimate + t * se, 1.0))
    assert out["effective_sample_size"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))
    assert out["interval_df"] == pytest.approx(out["effective_sample_size"] - 1)
    # Against the truth: the target policy's expected success rate.
    truth = sum(
        TARGET["hook_type"][i] * TARGET["color_mode"][j] * P_SUCCESS[(h, c)]
        for (i, h), (j, c) in itertools.product(enumerate(HOOKS), enumerate(COLORS))
    )
    logged_truth = sum(
        LOGGING["hook_type"][i] * LOGGING["color_mode"][j] * P_SUCCESS[(h, c)]
        for (i, h), (j, c) in itertools.product(enumerate(HOOKS), enumerate(COLORS))
    )
    assert abs(truth - logged_truth) > 0.15  # the estimate must move away from the logged mean
    for est in ("ips", "snips"):
        assert abs(out[est]["estimate"] - truth) < 3 * out[est]["se"], (est, out, truth)
        assert out[est]["lower"] < out[est]["estimate"] < out[est]["upper"]
    assert out["logged_mean"] == pytest.approx(ys.mean())


def test_the_logging_policy_itself_gets_the_logged_mean(db: psycopg.Connection) -> None:
    brand, ys, _ = _logged(db, 400)
    out = _evaluate(db, brand, _policy(LOGGING))
    assert out["snips"]["estimate"] == pytest.approx(ys.mean())
    assert out["ips"]["estimate"] == pytest.approx(ys.mean())
    assert out["effective_sample_size"] == pytest.approx(400)
    # CTR as the metric: clicks / impressions of each ad (20 / 1000 in the factory).
    assert _evaluate(db, brand, _policy(LOGGING), "ctr")["snips"]["estimate"] == pytest.approx(0.02)


def test_a_few_heavy_ads_widen_the_interval_to_their_count(db: psycopg.Connection) -> None:
    # Nearly all of the target's mass on the values logged least often: a few ads carry
    # the weight, and the interval is a t at their effective number less one.
    rare = {"hook_type": (0.01, 0.01, 0.98), "color_mode": (0.01, 0.01, 0.98)}
    brand, y, w = _logged(db, 300, rare)
    out = _evaluate(db, brand, _policy(rare))
    assert out["effective_sample_size"] < 30
    estimate, se, t = _intervals(w, y)["snips"]
    assert t > 2.0  # wider than the normal quantile
    assert out["snips"]["estimate"] == pytest.approx(estimate)
    assert out["snips"]["se"] == pytest.approx(se)
    # (cut to [0, 1], where rewards lie)
    assert out["snips"]["lower"] == pytest.approx(max(estimate - t * se, 0.0))
    assert out["snips"]["upper"] == pytest.approx(min(estimate + t * se, 1.0))


def test_a_brand_without_logged_ads_gets_no_estimate(db: psycopg.Connection) -> None:
    out = _evaluate(db, f.brand(db), _policy(TARGET))
    assert out["n"] == 0
    assert out["snips"] == {"estimate": None, "se": None, "lower": None, "upper": None}
    assert out["ips"]["lower"] is None
    assert out["effective_sample_size"] is None and out["interval_df"] is None


SIM_SIZES = (6, 5, 6, 4, 5)  # values per dimension of the simulated brands
_NODES, _HW = np.polynomial.hermite_e.hermegauss(20)


def _simulated_brand(
    rng: np.random.Generator, n: int = 288
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], float]:
    """A brand where the textbook normal interval fails: a learner's logging policy
    concentrated on a few values of five dimensions, the uniform policy as the target (so
    heavy-tailed weights), ads scattering around their elements' CTR (lognormal, sd 0 to
    0.5). Returns the weights, the CTRs, each dimension's values chosen and the exact truth:
    the mean over every combination of its expected CTR (Gauss-Hermite over the scatter)."""
    logging = [rng.dirichlet(np.full(k, rng.choice([0.3, 1.0, 3.0]))) for k in SIM_SIZES]
    logging = [0.95 * p + 0.05 / len(p) for p in logging]
    effects = [rng.normal(0.0, 0.3, k) for k in SIM_SIZES]
    spread = float(rng.choice([0.0, 0.3, 0.5]))
    chosen = [rng.choice(k, n, p=p) for k, p in zip(SIM_SIZES, logging, strict=True)]
    logit = -4.5 + sum(e[c] for e, c in zip(effects, chosen, strict=True))
    y = rng.binomial(3000, expit(logit + rng.normal(0.0, spread, n))) / 3000
    w = np.prod(
        [(1.0 / k) / p[c] for k, p, c in zip(SIM_SIZES, logging, chosen, strict=True)], axis=0
    )
    grid = -4.5 + sum(np.ix_(*effects))  # every combination's log-odds
    hw = _HW / _HW.sum()
    truth = float(np.sum(hw * expit(grid.reshape(-1, 1) + spread * _NODES).mean(axis=0)))
    return w, y, chosen, truth


def test_the_interval_covers_the_truth_when_a_few_ads_carry_the_weight() -> None:
    # Simulated brands (_simulated_brand: effective sample sizes 1.3 to 160 of 288 ads);
    # the estimators are the numpy replica checked against SQL above.
    rng = np.random.default_rng(11)
    covered = {"t_jackknife": 0, "normal_delta": 0}
    reps = 600
    for _ in range(reps):
        w, y, _, truth = _simulated_brand(rng)
        estimate, se, t = _intervals(w, y)["snips"]
        covered["t_jackknife"] += abs(estimate - truth) <= t * se
        # the textbook interval: delta-method se, normal quantile
        delta = np.sqrt(np.sum(w**2 * (y - estimate) ** 2)) / w.sum()
        covered["normal_delta"] += abs(estimate - truth) <= 1.96 * delta
    assert covered["normal_delta"] / reps < 0.85  # the case is hard
    assert covered["t_jackknife"] / reps >= 0.88, covered


def _rake(w: np.ndarray, codes: list[np.ndarray], shares: list[np.ndarray]) -> np.ndarray:
    """Reference raking: iterative proportional fitting to every dimension's shares (here
    the margins are compatible, so it converges to the entropy calibration)."""
    v = w.copy()
    for _ in range(2000):
        for c, t in zip(codes, shares, strict=True):
            v *= (t * v.sum() / np.bincount(c, v, minlength=len(t)))[c]
    return v


def test_raking_with_one_dimension_is_post_stratification(db: psycopg.Connection) -> None:
    # With the policy on one dimension the raked estimate is each value's mean reward,
    # weighted by the policy's probability of the value (the logging probabilities are
    # the same for every ad of a value here, so its weights are too).
    brand, _, _ = _logged(db, 600)
    policy = {"hook_type": (0.2, 0.3, 0.5)}
    out = _evaluate(db, brand, _policy(policy))
    rows = _rewards(db, brand)
    means = {h: np.mean([y for t, y in rows if t["hook_type"] == h]) for h in HOOKS}
    expected = sum(p * means[h] for h, p in zip(HOOKS, policy["hook_type"], strict=True))
    # (the dual's ridge moves it by about 1e-4 of the total weight)
    assert out["raked"]["estimate"] == pytest.approx(expected, rel=1e-3)
    assert out["raked"]["unlogged_mass"] == 0.0


def test_raking_matches_iterative_proportional_fitting(db: psycopg.Connection) -> None:
    brand, y, weights = _logged(db, 3000)
    out = _evaluate(db, brand, _policy(TARGET))
    rows = _rewards(db, brand)  # in _logged's order
    codes = [
        np.array([HOOKS.index(t["hook_type"]) for t, _ in rows]),
        np.array([COLORS.index(t["color_mode"]) for t, _ in rows]),
    ]
    v = _rake(weights, codes, [np.array(TARGET["hook_type"]), np.array(TARGET["color_mode"])])
    assert out["raked"]["estimate"] == pytest.approx(v @ y / v.sum(), rel=1e-3)
    assert out["raked"]["effective_sample_size"] == pytest.approx(
        v.sum() ** 2 / np.sum(v**2), rel=1e-2
    )
    lo, hi = out["raked"]["lower"], out["raked"]["upper"]
    assert lo < out["raked"]["estimate"] < hi


def test_a_policy_on_values_no_ad_carries_gets_no_interval(db: psycopg.Connection) -> None:
    brand, _, _ = _logged(db, 100)
    out = _evaluate(db, brand, {"hook_type": {"urgency": 1.0}})
    assert out["n"] == 100 and out["ips"]["estimate"] == 0.0
    assert out["ips"]["lower"] is None and out["ips"]["upper"] is None
    assert out["snips"]["estimate"] is None and out["raked"]["estimate"] is None
    assert out["raked"]["unlogged_mass"] == 1.0


def test_a_value_no_ad_carries_is_the_unlogged_mass(db: psycopg.Connection) -> None:
    brand, _, _ = _logged(db, 300)
    # half the policy on a hook the logging never chose
    policy = {"hook_type": {"story": 0.25, "question": 0.25, "urgency": 0.5}}
    out = _evaluate(db, brand, policy)
    assert out["raked"]["unlogged_mass"] == pytest.approx(0.5)
    assert out["raked"]["estimate"] is not None


def test_raking_covers_the_truth_where_the_self_normalised_estimate_leans(
    db: psycopg.Connection,
) -> None:
    # Brands simulated as above, through genome._raked_estimate: the raked estimate's error
    # is smaller and its interval (t at the raked weights' effective sample size less one)
    # covers the truth at about the nominal rate.
    rng = np.random.default_rng(12)
    reps, covered, errors = 120, 0, {"raked": 0.0, "snips": 0.0}
    targets = np.concatenate([np.full(k, 1.0 / k) for k in SIM_SIZES]).tolist()
    for _ in range(reps):
        w, y, chosen, truth = _simulated_brand(rng)
        est, se, ess, _ = db.execute(
            "SELECT * FROM genome._raked_estimate(%s, %s, %s, %s, %s)",
            (
                y.tolist(),
                w.tolist(),
                (np.column_stack(chosen) + 1).ravel().tolist(),
                list(SIM_SIZES),
                targets,
            ),
        ).fetchone()
        t = stats.t.ppf(0.975, max(ess - 1.0, 1.0))
        covered += abs(est - truth) <= t * se
        errors["raked"] += abs(est - truth) / truth
        errors["snips"] += abs(_intervals(w, y)["snips"][0] - truth) / truth
    assert covered / reps >= 0.9, covered
    assert errors["raked"] < 0.85 * errors["snips"], errors


@pytest.mark.parametrize(
    ("y", "w", "codes", "sizes", "targets"),
    [
        ([0.1, 0.2], [1.0], [1, 2], [2], [0.5, 0.5]),  # one weight short
        ([0.1, 0.2], [1.0, -1.0], [1, 2], [2], [0.5, 0.5]),  # a negative weight
        ([0.1, float("nan")], [1.0, 1.0], [1, 2], [2], [0.5, 0.5]),  # not finite
        ([0.1, 0.2], [1.0, 1.0], [1, 3], [2], [0.5, 0.5]),  # a place past the dimension
        ([0.1, 0.2], [1.0, 1.0], [1, 2], [2], [1.5, -0.5]),  # a negative target
    ],
)
def test_impossible_raking_input_is_gn030(
    db: psycopg.Connection, y: list, w: list, codes: list, sizes: list, targets: list
) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT * FROM genome._raked_estimate(%s, %s, %s, %s, %s)",
            (y, w, codes, sizes, targets),
        )
    assert err.value.sqlstate == "GN030"


@pytest.mark.parametrize(
    ("policy", "metric", "code"),
    [
        ({}, "reward", "GN110"),
        ({"hook_type": {"story": 0.5}}, "reward", "GN110"),
        ({"hook_type": {"no_such_hook": 1.0}}, "reward", "GN110"),
        ({"awareness_stage": {"unaware": 1.0}}, "reward", "GN110"),
        ({"hook_type": {"story": 1.0}}, "roas", "GN111"),
    ],
)
def test_bad_policies_and_metrics(
    db: psycopg.Connection, policy: dict, metric: str, code: str
) -> None:
    brand = f.brand(db)
    with pytest.raises(psycopg.Error) as err:
        _evaluate(db, brand, policy, metric)
    assert err.value.sqlstate == code
