"""genome.evaluate_policy: off-policy estimates from logged propensities, checked against a
simulated truth and against the same estimators computed in numpy."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

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


def _logged(db: psycopg.Connection, n: int) -> tuple[object, np.ndarray, np.ndarray]:
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
    rows = db.execute(
        "SELECT element_tags, reward_score FROM genome.creative_element_rewards "
        "WHERE generated_ad_id = ANY(%s)",
        (ids,),
    ).fetchall()
    target, logging = _policy(TARGET), _policy(LOGGING)
    weights = np.array(
        [np.prod([target[d][t[d]] / logging[d][t[d]] for d in target]) for t, _ in rows]
    )
    ys = np.array([y for _, y in rows])
    return brand, ys, weights


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
    assert out["ips"]["estimate"] == pytest.approx(np.mean(w * ys))
    assert out["ips"]["se"] == pytest.approx(np.std(w * ys, ddof=1) / np.sqrt(len(ys)))
    snips = np.sum(w * ys) / np.sum(w)
    assert out["snips"]["estimate"] == pytest.approx(snips)
    assert out["snips"]["se"] == pytest.approx(np.sqrt(np.sum(w**2 * (ys - snips) ** 2)) / w.sum())
    assert out["effective_sample_size"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))
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
