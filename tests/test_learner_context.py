"""The joint learner's audience context (docs/learning.md#context): the fit with context
terms against statsmodels' GLM with context dummies, a hook shown mostly to a warm audience
judged within the audience (and misjudged with learner_context 'ignore'), context kept out
of what selection chooses, and bad context input refused."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy.special import expit

from sim import factories as f
from tests.test_learner import (
    DAY,
    T0,
    _brand_ads,
    _dimensions,
    _posterior_means,
    _raw_ctr,
    _use,
)

STAGES = ("problem_aware", "solution_aware", "unaware")
# The audience's own log-odds: a warm audience clicks far more, whatever the creative.
STAGE_EFFECT = {"problem_aware": 1.2, "solution_aware": 0.0, "unaware": -0.6}


def _fit_with_context(db, values, places, successes, trials, levels, n_context):
    """genome._joint_logistic_fit with near-flat priors: parameters are the context values
    (1 .. n_context, group 0), the intercept, then each dimension's values; `values` per ad
    its value of each dimension (0-based), `places` per ad and context dimension the 1-based
    place of its context value (0: none)."""
    k = n_context + 1 + sum(levels)
    groups = [0] * (n_context + 1) + [d + 1 for d, n in enumerate(levels) for _ in range(n)]
    ad_values = [[v + 1 + sum(levels[:d]) for d, v in enumerate(row)] for row in values]
    row = db.execute(
        "SELECT posterior_mean, marginal_mean FROM genome._joint_logistic_fit("
        "'{}', '{}', %s, %s, %s, %s, %s, %s, %s, 1.0, "
        "p_ad_values => %s, p_ad_context => %s, p_context_params => %s)",
        (
            [float(x) for x in successes],
            [float(x) for x in trials],
            [1.0] * len(values),
            [n_context + 1] * len(values),
            [0.0] * k,
            [1e4] * k,
            groups,
            ad_values,
            places,
            list(range(1, n_context + 1)),
        ),
    ).fetchone()
    return np.asarray(row[0]), row[1]


def test_the_fit_with_context_is_statsmodels_glm_with_context_dummies(
    db: psycopg.Connection,
) -> None:
    rng = np.random.default_rng(11)
    levels = [3, 4]
    n = 300
    stage = rng.integers(0, 3, n)
    # The first dimension's value follows the audience (confounded), the second does not.
    first = np.where(rng.random(n) < 0.7, stage, rng.integers(0, 3, n))
    second = rng.integers(0, 4, n)
    effects = [np.array([0.0, 0.3, -0.2]), np.array([0.0, 0.2, -0.3, 0.1])]
    eta = -4.0 + np.array([1.0, 0.0, -0.5])[stage] + effects[0][first] + effects[1][second]
    trials = rng.integers(1000, 6000, n)
    successes = rng.binomial(trials, expit(eta))
    b, _ = _fit_with_context(
        db, np.column_stack([first, second]).tolist(), (stage + 1)[:, None].tolist(),
        successes, trials, levels, 3,
    )  # fmt: skip
    # The reference: a binomial GLM with reference coding (intercept, stages 2-3, values
    # 2.. of each dimension); per ad log-odds are invariant to the coding.
    X = np.column_stack(
        [np.ones(n), stage == 1, stage == 2]
        + [first == v for v in (1, 2)]
        + [second == v for v in (1, 2, 3)]
    ).astype(float)
    glm = sm.GLM(
        np.column_stack([successes, trials - successes]), X, family=sm.families.Binomial()
    ).fit(tol=1e-12)
    ours = b[:3][stage] + b[3] + b[4:7][first] + b[7:11][second]
    np.testing.assert_allclose(ours, X @ glm.params, atol=1e-4)
    # The first dimension's differences are the GLM's, the audience's share taken out.
    assert b[5] - b[4] == pytest.approx(glm.params[3], abs=1e-4)
    assert b[5] - b[4] == pytest.approx(0.3, abs=0.05)


def _confounded_brand(db, rng):
    """A brand whose first hook is shown mostly to problem-aware audiences (the warm ones)
    but is worse than the second within every audience. Returns (brand, dimension, the
    confounded hook, the better hook)."""
    dims = _dimensions(db)
    hook_dim, others = next((d, v) for d, v in dims.items() if len(v) >= 3)
    shown_warm, better = others[0], others[1]
    tags, impressions, clicks = [], [], []
    for i in range(300):
        hook = shown_warm if i % 2 == 0 else rng.choice([better, *others[2:]])
        warm = 0.85 if hook == shown_warm else 0.1
        stage = "problem_aware" if rng.random() < warm else str(rng.choice(STAGES[1:]))
        eta = -4.0 + STAGE_EFFECT[stage] - 0.3 * (hook == shown_warm) + 0.3 * (hook == better)
        n = 4000
        tags.append({hook_dim: str(hook), "awareness_stage": stage})
        impressions.append(n)
        clicks.append(int(rng.binomial(n, expit(eta))))
    day = (T0 - 2 * DAY).date()
    brand = f.brand(db)
    _brand_ads(db, brand, tags, impressions, clicks, [day] * 300, [day] * 300, [T0] * 300)
    # Raw CTR per hook credits the warm audience to the hook shown to it.
    ctr = _raw_ctr(tags, clicks, impressions, hook_dim, (shown_warm, better))
    assert ctr[shown_warm] > ctr[better]
    return brand, hook_dim, shown_warm, better


def test_a_hook_shown_to_warm_audiences_is_judged_within_the_audience(
    db: psycopg.Connection,
) -> None:
    _use(db, "joint_logistic")
    brand, hook_dim, shown_warm, better = _confounded_brand(db, np.random.default_rng(7))
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    means = _posterior_means(db, brand, hook_dim)
    assert max(means, key=means.get) == better
    assert means[better] > means[shown_warm]
    # The context is a nuisance term of the model, not something selection chooses: its
    # parameters are in the posterior, no score row or win probability is a context value.
    params = db.execute(
        "SELECT parameters FROM genome.learner_posteriors WHERE brand_id = %s", (brand,)
    ).fetchone()[0]
    assert {p for p in params if p.startswith("context:")} == {
        f"context:awareness_stage={s}" for s in STAGES
    }
    assert (
        db.execute(
            "SELECT count(*) FROM genome.creative_element_scores AS s "
            "JOIN genome.element_dimensions AS d ON d.dimension = s.element_dimension "
            "WHERE s.brand_id = %s AND d.kind = 'context'",
            (brand,),
        ).fetchone()[0]
        == 0
    )
    wins = dict(
        db.execute(
            "SELECT element_value, win_probability FROM genome.creative_element_scores "
            "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = %s",
            (brand, hook_dim),
        ).fetchall()
    )
    assert sum(wins.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(wins, key=wins.get) == better


def test_with_context_ignored_the_warm_audience_is_credited_to_the_hook(
    db: psycopg.Connection,
) -> None:
    _use(db, "joint_logistic", learner_context="ignore")
    brand, hook_dim, shown_warm, _ = _confounded_brand(db, np.random.default_rng(7))
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    means = _posterior_means(db, brand, hook_dim)
    assert max(means, key=means.get) == shown_warm
    params = db.execute(
        "SELECT parameters FROM genome.learner_posteriors WHERE brand_id = %s", (brand,)
    ).fetchone()[0]
    assert not [p for p in params if p.startswith("context:")]


def test_an_unknown_learner_context_setting_is_refused_and_changes_nothing(
    db: psycopg.Connection,
) -> None:
    _use(db, "joint_logistic", learner_context="sometimes")
    _confounded_brand(db, np.random.default_rng(3))
    state = "SELECT (SELECT count(*) FROM genome.learner_posteriors), (SELECT count(*) FROM genome.creative_element_scores)"
    before = db.execute(state).fetchone()
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert err.value.sqlstate == "GN090"
    assert "learner_context" in str(err.value)
    assert db.execute(state).fetchone() == before


@pytest.mark.parametrize(
    ("places", "params", "message"),
    [
        ([[4], [1]], [1, 2, 3], "no place in the context parameters"),
        ([[1], [2]], [1, 5], "parameters of group 0"),
        ([[1], [2]], [1, 99], "parameters of group 0"),
    ],
)
def test_the_fit_refuses_context_that_names_no_context_parameter(
    db: psycopg.Connection, places, params, message
) -> None:
    # Parameters: three context values, the intercept (group 0), then two values (group 1).
    with pytest.raises(psycopg.Error, match=message):
        db.execute(
            "SELECT * FROM genome._joint_logistic_fit('{}', '{}', %s, %s, %s, %s, %s, %s, %s, "
            "1.0, p_ad_values => %s, p_ad_context => %s, p_context_params => %s)",
            (
                [10.0, 20.0], [1000.0, 1000.0], [1.0, 1.0], [4, 4], [0.0] * 6, [1.0] * 6,
                [0, 0, 0, 0, 1, 1], [[1], [2]], places, params,
            ),
        )  # fmt: skip


def _posteriors(db, brand):
    return db.execute(
        "SELECT stage, parameters, posterior_mean FROM genome.learner_posteriors "
        "WHERE brand_id = %s ORDER BY stage",
        (brand,),
    ).fetchall()


def test_one_audience_for_every_ad_leaves_the_model_as_it_was(db: psycopg.Connection) -> None:
    """A brand that never varies its audience: no context terms, the same posterior as with
    context ignored (number for number)."""
    _use(db, "joint_logistic")
    dims = _dimensions(db)
    hook_dim, hooks = next((d, v) for d, v in dims.items() if len(v) >= 3)
    rng = np.random.default_rng(5)
    tags = [
        {hook_dim: str(rng.choice(hooks)), "awareness_stage": "solution_aware"} for _ in range(120)
    ]
    clicks = [int(rng.binomial(3000, 0.02)) for _ in tags]
    day = (T0 - 2 * DAY).date()
    brand = f.brand(db)
    _brand_ads(db, brand, tags, [3000] * 120, clicks, [day] * 120, [day] * 120, [T0] * 120)
    db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    adjusted = _posteriors(db, brand)
    _use(db, "joint_logistic", learner_context="ignore")
    db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    ignored = _posteriors(db, brand)
    assert [r[1] for r in adjusted] == [r[1] for r in ignored]
    assert not [p for r in adjusted for p in r[1] if p.startswith("context:")]
    for a, b in zip(adjusted, ignored, strict=True):
        np.testing.assert_array_equal(a[2], b[2])


def test_ads_without_a_recorded_audience_sit_at_the_intercepts_level(
    db: psycopg.Connection,
) -> None:
    """Context recorded for some ads only (record_ad_context later, or never): the audiences
    recorded get terms, the others carry none, and the better hook still wins."""
    _use(db, "joint_logistic")
    dims = _dimensions(db)
    hook_dim, hooks = next((d, v) for d, v in dims.items() if len(v) >= 3)
    flattered, better = hooks[0], hooks[1]
    rng = np.random.default_rng(9)
    tags, clicks = [], []
    for i in range(240):
        hook = flattered if i % 2 == 0 else str(rng.choice([better, *hooks[2:]]))
        # A third of the ads have no recorded audience; of the rest, the flattered hook's
        # go mostly to the warm one.
        known = i % 3 != 0
        warm = rng.random() < (0.85 if hook == flattered else 0.1)
        stage = "problem_aware" if warm else "unaware"
        t = {hook_dim: hook}
        if known:
            t["awareness_stage"] = stage
        eta = -4.0 + STAGE_EFFECT[stage] - 0.3 * (hook == flattered) + 0.3 * (hook == better)
        tags.append(t)
        clicks.append(int(rng.binomial(4000, expit(eta))))
    day = (T0 - 2 * DAY).date()
    brand = f.brand(db)
    _brand_ads(db, brand, tags, [4000] * 240, clicks, [day] * 240, [day] * 240, [T0] * 240)
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    params = _posteriors(db, brand)[0][1]
    assert {p for p in params if p.startswith("context:")} == {
        "context:awareness_stage=problem_aware",
        "context:awareness_stage=unaware",
    }
    means = _posterior_means(db, brand, hook_dim)
    assert means[better] > means[flattered]
