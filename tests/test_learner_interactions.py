"""The joint learner's pairwise interaction terms (docs/learning.md#interactions): the fit
against statsmodels' GLM and its own MAP condition, a planted interaction recovered, and win
probabilities from the best whole combination per posterior draw."""

from __future__ import annotations

import itertools

import numpy as np
import psycopg
import statsmodels.api as sm
from scipy.special import expit

LEVELS = [3, 4, 2]
DIMS = ["angle", "hook", "visual"]  # alphabetical, as update_scores numbers the groups


def _names(levels=LEVELS):  # type: ignore[no-untyped-def]
    return ["objective:TRAFFIC"] + [
        f"{DIMS[d]}=v{v}" for d, n in enumerate(levels) for v in range(n)
    ]


def _fit(db, designs, successes, trials, *, prior_sd, interaction_sd):  # type: ignore[no-untyped-def]
    """genome._joint_logistic_fit with interaction terms; returns (parameter names, MAP,
    covariance, dispersion, marginal means, average design)."""
    offsets = np.cumsum([1, *LEVELS])[:-1]
    k = 1 + sum(LEVELS)
    ad_index, param_index = [], []
    for i, design in enumerate(designs):
        for d, v in enumerate(design):
            ad_index.append(i + 1)
            param_index.append(int(offsets[d] + v) + 1)
    groups = [0] + [d + 1 for d, n in enumerate(LEVELS) for _ in range(n)]
    row = db.execute(
        "SELECT parameters, posterior_mean, posterior_cholesky, dispersion, marginal_mean, "
        "average_design FROM genome._joint_logistic_fit(%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "1.0, p_names => %s, p_interaction_sd => %s)",
        (
            ad_index,
            param_index,
            [float(x) for x in successes],
            [float(x) for x in trials],
            [1.0] * len(designs),
            [1] * len(designs),
            [0.0] * k,
            [100.0] + [prior_sd] * (k - 1),
            groups,
            _names(),
            interaction_sd,
        ),
    ).fetchone()
    names, mean, chol = row[0], np.asarray(row[1]), np.asarray(row[2])
    chol = chol.reshape(len(names), len(names))
    return names, mean, chol @ chol.T, row[3], row[4], np.asarray(row[5])


def _design(designs, names):  # type: ignore[no-untyped-def]
    """Each ad's columns for the fit's parameters: its intercept, values and value pairs."""
    X = np.zeros((len(designs), len(names)))
    col = {n: j for j, n in enumerate(names)}
    for i, design in enumerate(designs):
        carried = [f"{DIMS[d]}=v{v}" for d, v in enumerate(design)]
        X[i, 0] = 1.0
        for c in carried:
            X[i, col[c]] = 1.0
        for a, b in itertools.combinations(carried, 2):
            X[i, col[f"{a}&{b}"]] = 1.0
    return X


def _market(seed, n_ads=240):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    designs = [tuple(int(rng.integers(n)) for n in LEVELS) for _ in range(n_ads)]
    main = [rng.normal(0, 0.1, n) for n in LEVELS]
    # A planted angle x hook interaction, double-centred, larger than the main effects.
    inter = rng.normal(0, 0.5, (LEVELS[0], LEVELS[1]))
    inter -= inter.mean(axis=0, keepdims=True)
    inter -= inter.mean(axis=1, keepdims=True)
    eta = np.array(
        [-3.0 + sum(main[d][v] for d, v in enumerate(x)) + inter[x[0], x[1]] for x in designs]
    )
    trials = rng.integers(2000, 6000, n_ads)
    return designs, rng.binomial(trials, expit(eta)), trials, inter


def test_interaction_fit_matches_glm_and_is_the_penalised_map(db: psycopg.Connection) -> None:
    designs, successes, trials, _ = _market(11)
    # With a negligible prior: every ad's log-odds are the unpenalised GLM's on the full
    # pairwise design in reference coding (identifiable; the fit's one-hot design is not).
    names, mean, _, _, _, _ = _fit(db, designs, successes, trials, prior_sd=1e4, interaction_sd=1e4)
    assert sum("&" in n for n in names) == 3 * 4 + 3 * 2 + 4 * 2  # every pair carried
    X = _design(designs, names)
    keep = [
        j
        for j, n in enumerate(names)
        if j == 0 or all(not part.endswith("=v0") for part in n.split("&"))
    ]
    glm = sm.GLM(
        np.column_stack([successes, trials - successes]), X[:, keep], family=sm.families.Binomial()
    ).fit()
    np.testing.assert_allclose(X @ mean, X[:, keep] @ glm.params, atol=1e-4)
    # With the suggested prior (sd 0.5 for the pairs): the gradient of the log posterior at
    # the returned MAP is zero (the weights divided by the dispersion, as the fit does).
    names, mean, cov, phi, _, _ = _fit(
        db, designs, successes, trials, prior_sd=1.0, interaction_sd=0.5
    )
    X = _design(designs, names)
    sd = np.array([100.0] + [1.0] * sum(LEVELS) + [0.5] * (len(names) - 1 - sum(LEVELS)))
    p = expit(X @ mean)
    grad = X.T @ (successes - trials * p) / phi - mean / sd**2
    assert np.max(np.abs(grad)) < 1e-5
    # And the covariance is the inverse negative Hessian there.
    hess = (X.T * (trials * p * (1 - p) / phi)) @ X + np.diag(1 / sd**2)
    np.testing.assert_allclose(cov, np.linalg.inv(hess), atol=1e-8)


def test_a_planted_interaction_is_recovered_and_marginals_use_the_average_ad(
    db: psycopg.Connection,
) -> None:
    designs, successes, trials, inter = _market(12, n_ads=400)
    names, mean, cov, _, marginal, average = _fit(
        db, designs, successes, trials, prior_sd=1.0, interaction_sd=0.5
    )
    col = {n: j for j, n in enumerate(names)}
    fitted = np.array([[mean[col[f"angle=v{a}&hook=v{h}"]] for h in range(4)] for a in range(3)])
    fitted -= fitted.mean(axis=0, keepdims=True)
    fitted -= fitted.mean(axis=1, keepdims=True)
    # The double-centred interaction (what the data identify) within 0.1 of the truth.
    np.testing.assert_allclose(fitted, inter, atol=0.1)
    # The best angle x hook cell is the planted one.
    assert np.unravel_index(np.argmax(fitted), fitted.shape) == np.unravel_index(
        np.argmax(inter), inter.shape
    )
    # A value's marginal: the average ad with the value in its dimension, its pairs with the
    # other dimensions' values weighted by their average design (logistic-normal mean).
    j = col["hook=v2"]
    c = average.copy()
    for n, i in col.items():
        parts = n.split("&")
        if any(part.startswith("hook=") for part in parts):
            c[i] = 0.0
            if "hook=v2" in parts:
                other = [part for part in parts if part != "hook=v2"]
                c[i] = average[col[other[0]]] if other else 1.0
    assert c[j] == 1.0
    draws = np.random.default_rng(0).normal(c @ mean, np.sqrt(c @ cov @ c), 400_000)
    assert abs(marginal[j] - expit(draws).mean()) < 2e-4


def _win_probabilities(db, stages, names, means, draws=4000, seed=7):  # type: ignore[no-untyped-def]
    sizes, params, maps, chols, averages = [], [], [], [], []
    for p, m, cov, avg in stages:
        sizes.append(len(p))
        params += p
        maps += [float(x) for x in m]
        chols += [float(x) for x in np.linalg.cholesky(np.asarray(cov)).ravel()]
        averages += [float(x) for x in avg]
    rows = db.execute(
        "SELECT value_name, win_probability FROM genome._joint_win_probabilities("
        "%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (sizes, params, maps, chols, averages, names, [float(x) for x in means], draws, seed),
    ).fetchall()
    return dict(rows)


def test_win_probabilities_follow_the_best_combination_not_the_additive_ranking(
    db: psycopg.Connection,
) -> None:
    """hook a and angle x are each better on their own, but a with x is bad and b with y is
    best: the best whole combination (b, y) carries the win probabilities."""
    params = ["objective:TRAFFIC", "angle=x", "angle=y", "hook=a", "hook=b"]
    pairs = ["angle=x&hook=a", "angle=x&hook=b", "angle=y&hook=a", "angle=y&hook=b"]
    mean = [-3.0, 0.3, 0.0, 0.3, 0.0, -1.0, 0.0, 0.0, 0.6]
    cov = np.eye(len(mean)) * 0.01**2
    average = [1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    names = ["angle=x", "angle=y", "hook=a", "hook=b"]
    # Marginal rates at the average ad (what creative_element_scores holds).
    m = np.asarray(mean)
    means = [
        expit(-3.0 + m[1] + 0.3 * 0.5 + (m[5] + m[6]) / 2),
        expit(-3.0 + m[2] + 0.3 * 0.5 + (m[7] + m[8]) / 2),
        expit(-3.0 + m[3] + 0.3 * 0.5 + (m[5] + m[7]) / 2),
        expit(-3.0 + m[4] + 0.3 * 0.5 + (m[6] + m[8]) / 2),
    ]
    wins = _win_probabilities(db, [(params + pairs, mean, cov, average)], names, means)
    assert wins["angle=y"] == 1.0 and wins["hook=b"] == 1.0
    # Without the pair terms, the additive ranking wins.
    means = [expit(-3.0 + x + 0.3 * 0.5) for x in m[1:5]]
    wins = _win_probabilities(db, [(params, mean[:5], cov[:5, :5], average[:5])], names, means)
    assert wins["angle=x"] == 1.0 and wins["hook=a"] == 1.0


def _old_win_probabilities(stages, names, means, draws, seed):  # type: ignore[no-untyped-def]
    """The per-dimension draws before interaction terms: each value's rate at the average
    ad, multiplied over the stages, scaled to its mean, the argmax per dimension."""
    rng = np.random.default_rng(seed)
    log_rate = np.zeros((draws, len(names)))
    for params, mean, cov, average in stages:
        x = rng.multivariate_normal(mean, cov, draws)
        dims = np.array([p.split("=")[0] if "=" in p else "" for p in params])
        for i, name in enumerate(names):
            j = params.index(name)
            in_d = dims == dims[j]
            log_rate[:, i] -= np.logaddexp(
                0.0, -(x[:, ~in_d] @ np.asarray(average)[~in_d] + x[:, j])
            )
    rate = np.exp(log_rate)
    rate *= np.asarray(means) / rate.mean(axis=0)
    out = {}
    for d in dict.fromkeys(n.split("=")[0] for n in names):
        idx = [i for i, n in enumerate(names) if n.startswith(d + "=")]
        wins = np.bincount(np.argmax(rate[:, idx], axis=1), minlength=len(idx)) / draws
        out.update({names[i]: w for i, w in zip(idx, wins, strict=True)})
    return out


def test_without_interactions_the_joint_argmax_is_the_per_dimension_draw(
    db: psycopg.Connection,
) -> None:
    """A two-stage (conversion) brand, correlated posteriors, means moved by causal
    evidence: the best combination's values win as often as each dimension's best value did
    (within Monte Carlo error)."""
    rng = np.random.default_rng(5)
    params = _names()
    k = len(params)
    average = [1.0] + [1.0 / n for n in LEVELS for _ in range(n)]
    stages = []
    for intercept in (-3.5, -2.0):
        a = rng.normal(0, 0.08, (k, k))
        stages.append(
            (params, [intercept, *rng.normal(0, 0.1, k - 1)], a @ a.T + np.eye(k) * 1e-3, average)
        )
    names = params[1:]
    # The stored means: the marginal draws' means times a causal factor of 0.8-1.2.
    rates = np.ones((40_000, len(names)))
    draws_rng = np.random.default_rng(3)
    for p, mean, cov, avg in stages:
        x = draws_rng.multivariate_normal(mean, cov, 40_000)
        dims = np.array([q.split("=")[0] if "=" in q else "" for q in p])
        for i, name in enumerate(names):
            j = p.index(name)
            in_d = dims == dims[j]
            rates[:, i] *= expit(x[:, ~in_d] @ np.asarray(avg)[~in_d] + x[:, j])
    means = rates.mean(axis=0) * rng.uniform(0.8, 1.2, len(names))
    old = _old_win_probabilities(stages, names, means, 40_000, 4)
    new = _win_probabilities(db, stages, names, means, draws=40_000, seed=9)
    for name in names:
        assert abs(new[name] - old[name]) < 0.02, (name, new[name], old[name])
