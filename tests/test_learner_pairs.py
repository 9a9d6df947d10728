"""Pair terms in the joint learner and blocks of dimensions drawn together
(docs/learning.md#interactions): the fit against an exact minimization and MacKay's fixed
point, the pruning of pairs the data do not support, the block draws against a brute-force
Monte Carlo, and selection from the blocks' tables end to end."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import psycopg
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from sim import factories as f
from tests.test_learner import DAY, T0, _brand_ads, _dimensions, _use

LEVELS = (3, 4)


def _pair_design(cells):
    """Parameters of a two-dimension design with its pair cells: the intercept (1), the
    values of dimension 1 and 2, then the cells some ad carries. Returns the per-entry ad and
    parameter indices (1-based), the groups, the pair-group rows and the cell list."""
    seen = sorted(set(cells))
    first = {0: 2, 1: 2 + LEVELS[0]}
    cell_at = {c: 2 + sum(LEVELS) + i for i, c in enumerate(seen)}
    ad_index, param_index = [], []
    for i, (a, b) in enumerate(cells):
        for p in (first[0] + a, first[1] + b, cell_at[(a, b)]):
            ad_index.append(i + 1)
            param_index.append(p)
    groups = [0] + [1] * LEVELS[0] + [2] * LEVELS[1] + [3] * len(seen)
    return ad_index, param_index, groups, [[3, 1, 2]], seen


def _pair_fit(db, cells, successes, trials, *, pairs=True, min_sd=0.0, start_sd=0.3, kept_sds=None):
    ad_index, param_index, groups, pair_groups, seen = _pair_design(cells)
    k = len(groups)
    mean = [-3.0] + [0.0] * (k - 1)
    sd = [2.0] + [1.0] * sum(LEVELS) + [start_sd] * len(seen)
    if not pairs:
        # The same data without cells: the additive model's parameters only.
        keep = [i for i, p in enumerate(param_index) if p <= 1 + sum(LEVELS)]
        ad_index = [ad_index[i] for i in keep]
        param_index = [param_index[i] for i in keep]
        k = 1 + sum(LEVELS)
        groups, mean, sd = groups[:k], mean[:k], sd[:k]
    row = db.execute(
        "SELECT posterior_mean, posterior_cholesky, dispersion, kept_parameters, pair_sd "
        "FROM genome._joint_logistic_fit(%s, %s, %s, %s, %s, %s, %s, %s, %s, 1.0, "
        "NULL, NULL, 'Infinity', 7, 3, %s, %s, p_kept_sds => %s)",
        (
            ad_index,
            param_index,
            [float(x) for x in successes],
            [float(x) for x in trials],
            [1.0] * len(cells),
            [1] * len(cells),
            mean,
            sd,
            groups,
            pair_groups if pairs else None,
            min_sd,
            kept_sds,
        ),
    ).fetchone()
    kept = np.asarray(row[3])
    m = len(row[0])
    chol = np.asarray(row[1]).reshape(m, m)
    return {
        "mean": np.asarray(row[0]),
        "cov": chol @ chol.T,
        "dispersion": row[2],
        "kept": kept,
        "pair_sd": row[4],
        "groups": np.asarray(groups)[kept] if pairs else np.asarray(groups),
        "prior_mean": np.asarray(mean)[kept] if pairs else np.asarray(mean),
        "prior_sd": np.asarray(sd)[kept] if pairs else np.asarray(sd),
        "seen": seen,
        "X": _dense(ad_index, param_index, len(cells), len(groups))[:, kept] if pairs else None,
    }


def _dense(ad_index, param_index, n_ads, k):
    X = np.zeros((n_ads, k))
    X[:, 0] = 1.0
    X[np.asarray(ad_index) - 1, np.asarray(param_index) - 1] = 1.0
    return X


def _interaction_data(rng, n_ads, pair_sd, trials=4000):
    main = [rng.normal(0, 0.4, n) for n in LEVELS]
    pair = rng.normal(0, pair_sd, LEVELS)
    cells = [(int(rng.integers(LEVELS[0])), int(rng.integers(LEVELS[1]))) for _ in range(n_ads)]
    eta = np.array([-3.0 + main[0][a] + main[1][b] + pair[a, b] for a, b in cells])
    n = np.full(n_ads, trials)
    return cells, rng.binomial(n, expit(eta)), n, pair


def test_the_design_from_the_ads_values_is_the_design_from_entries(db: psycopg.Connection) -> None:
    """docs/learning.md#joint-learner: genome._joint_design turns the ads' tags into their
    values' places and the carried cells (or the entries themselves), and the fit given
    those places builds the very design the entries give: the same outputs, bit for bit."""
    cells, s, n, _ = _interaction_data(np.random.default_rng(7), 60, 0.5)
    ad_index, param_index, groups, pair_groups, seen = _pair_design(cells)
    names = [[f"a{i}" for i in range(LEVELS[0])], [f"b{i}" for i in range(LEVELS[1])]]
    possible = list(itertools.product(range(LEVELS[0]), range(LEVELS[1])))
    # Two more ads: one with a value the registry does not know, one without dimension 2.
    tags = [[names[0][a], names[1][b]] for a, b in cells] + [["zz", "b0"], ["a1", None]]
    design = db.execute(
        "SELECT d.ad_values, d.cells, d.cell_values, e.ad_index, e.param_index "
        "FROM genome._joint_design(%s, %s, %s, 2, %s, %s, false) AS d, "
        "genome._joint_design(%s, %s, %s, 2, %s, %s, true) AS e",
        (
            tags,
            [1] * LEVELS[0] + [2] * LEVELS[1],
            names[0] + names[1],
            [a + 1 for a, _ in possible],
            [LEVELS[0] + b + 1 for _, b in possible],
        )
        * 2,
    ).fetchone()
    ad_values = [[a + 1, LEVELS[0] + b + 1] for a, b in cells]
    cell_values = [[a + 1, LEVELS[0] + b + 1] for a, b in seen]
    assert design[0] == [*ad_values, [0, LEVELS[0] + 1], [2, 0]]
    assert design[1] == [possible.index(c) + 1 for c in seen] and design[2] == cell_values
    n_ads = len(cells)
    assert (design[3], design[4]) == (
        [*ad_index, n_ads + 1, n_ads + 2],
        [*param_index, 2 + LEVELS[0], 3],
    )

    def fit(entries, values):
        return db.execute(
            "SELECT * FROM genome._joint_logistic_fit(%s, %s, %s, %s, %s, %s, %s, %s, %s, 1.0, "
            "NULL, NULL, 'Infinity', 7, 3, %s, 0.0, %s, %s)",
            (
                *entries,
                [float(x) for x in s],
                [float(x) for x in n],
                [1.0] * n_ads,
                [1] * n_ads,
                [-3.0] + [0.0] * (len(groups) - 1),
                [2.0] + [1.0] * sum(LEVELS) + [0.3] * len(seen),
                groups,
                pair_groups,
                *values,
            ),
        ).fetchone()

    by_entries = fit((ad_index, param_index), (None, None))
    by_values = fit(([], []), (ad_values, cell_values))
    assert by_entries == by_values and len(by_entries[0]) == len(groups)
    with pytest.raises(psycopg.errors.InternalError_, match="not both"):
        fit((ad_index, param_index), (ad_values, cell_values))


def test_pair_fit_map_is_the_exact_minimum_at_its_fitted_sd(db: psycopg.Connection) -> None:
    """Equal trials (every ad's Williams factor is the dispersion): the MAP the fit returns
    is the minimum of binomial deviance / dispersion plus the Gaussian prior with the pair
    cells' fitted sd, found by scipy's optimizer from scratch."""
    cells, s, n, _ = _interaction_data(np.random.default_rng(4), 80, 0.5)
    fit = _pair_fit(db, cells, s, n)
    assert fit["kept"].all() and fit["pair_sd"][0] > 0.1
    X = fit["X"]
    precision = 1.0 / fit["prior_sd"] ** 2
    precision[fit["groups"] == 3] = 1.0 / fit["pair_sd"][0] ** 2
    m0 = fit["prior_mean"]

    def objective(b):
        eta = X @ b
        loglik = np.sum(s * eta - n * np.logaddexp(0.0, eta)) / fit["dispersion"]
        grad = X.T @ (s - n * expit(eta)) / fit["dispersion"] - precision * (b - m0)
        return -loglik + 0.5 * np.sum(precision * (b - m0) ** 2), -grad

    ref = minimize(objective, m0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    np.testing.assert_allclose(fit["mean"], ref.x, atol=2e-5)


def test_pair_sd_is_mackays_fixed_point(db: psycopg.Connection) -> None:
    """tau^2 = sum of the cells' squared MAPs / sum of (1 - posterior variance / tau^2):
    the returned sd satisfies the fixed point it was iterated to (to its 1% tolerance)."""
    cells, s, n, _ = _interaction_data(np.random.default_rng(9), 120, 0.6)
    fit = _pair_fit(db, cells, s, n)
    tau2 = fit["pair_sd"][0] ** 2
    g = fit["groups"] == 3
    gamma = np.sum(1.0 - np.diag(fit["cov"])[g] / tau2)
    assert np.sum(fit["mean"][g] ** 2) / gamma == pytest.approx(tau2, rel=0.03)


def test_pairs_the_data_do_not_support_are_dropped(db: psycopg.Connection) -> None:
    """Additive data: the pair sd shrinks below learner_pair_min_sd, the cells are dropped
    and the posterior is the additive model's, to the Newton tolerance."""
    cells, s, n, _ = _interaction_data(np.random.default_rng(2), 150, 0.0)
    fit = _pair_fit(db, cells, s, n, min_sd=0.1)
    additive = _pair_fit(db, cells, s, n, pairs=False)
    assert fit["pair_sd"][0] < 0.1
    assert not fit["kept"][1 + sum(LEVELS) :].any() and fit["kept"][: 1 + sum(LEVELS)].all()
    np.testing.assert_allclose(fit["mean"], additive["mean"], atol=1e-7)
    np.testing.assert_allclose(fit["cov"], additive["cov"], atol=1e-9)


def test_a_kept_pair_sd_gives_the_fit_that_chose_it(db: psycopg.Connection) -> None:
    """docs/learning.md#kept-structure: given the sd its own fixed point reached, the fit
    keeps the cells and lands on the same posterior without iterating; a kept sd below
    learner_pair_min_sd drops the cells, and the posterior is the additive model's."""
    cells, s, n, _ = _interaction_data(np.random.default_rng(4), 80, 0.5)
    searched = _pair_fit(db, cells, s, n, min_sd=0.1)
    assert searched["kept"].all() and searched["pair_sd"][0] > 0.1
    kept = _pair_fit(db, cells, s, n, min_sd=0.1, kept_sds=searched["pair_sd"])
    assert kept["pair_sd"] == searched["pair_sd"] and kept["kept"].all()
    np.testing.assert_allclose(kept["mean"], searched["mean"], atol=1e-7)
    np.testing.assert_allclose(kept["cov"], searched["cov"], rtol=1e-6, atol=1e-10)
    dropped = _pair_fit(db, cells, s, n, min_sd=0.1, kept_sds=[0.09])
    additive = _pair_fit(db, cells, s, n, pairs=False)
    assert not dropped["kept"][1 + sum(LEVELS) :].any()
    np.testing.assert_allclose(dropped["mean"], additive["mean"], atol=1e-7)
    np.testing.assert_allclose(dropped["cov"], additive["cov"], rtol=1e-6, atol=1e-10)


def test_pair_sd_tracks_the_true_interaction_sd(db: psycopg.Connection) -> None:
    """Over simulated brands with interactions of sd 0.5 the fitted sd is of that size; with
    none it is below 0.1 (a seeded simulation where the truth is known)."""
    rng = np.random.default_rng(17)
    strong, none = [], []
    for _ in range(6):
        cells, s, n, _ = _interaction_data(rng, 150, 0.5)
        strong.append(_pair_fit(db, cells, s, n)["pair_sd"][0])
        cells, s, n, _ = _interaction_data(rng, 150, 0.0)
        none.append(_pair_fit(db, cells, s, n)["pair_sd"][0])
    assert 0.3 < float(np.median(strong)) < 0.8
    assert float(np.median(none)) < 0.1


# --- Block draws --------------------------------------------------------------------------


def _block_stage(rng):
    """One stage over dimensions a (3 values) and b (4): intercept, values, the cells but
    one (drawn from the pair sd), a random covariance."""
    names = [f"a={x}" for x in "pqr"] + [f"b={x}" for x in "wxyz"]
    cells = [f"{u}&{v}" for u in names[:3] for v in names[3:]][:-1]
    params = ["objective:TRAFFIC", *names, *cells]
    k = len(params)
    mean = np.concatenate([[-3.0], rng.normal(0, 0.3, 7), rng.normal(0, 0.4, len(cells))])
    a = rng.normal(size=(k, k)) * 0.05
    cov = a @ a.T + np.eye(k) * 0.02
    average = np.concatenate(
        [[1.0], np.full(3, 1 / 3), np.full(4, 1 / 4), np.full(len(cells), 1 / 12)]
    )
    return params, mean, cov, average, names


def _block_wins(db, params, mean, cov, average, names, means, draws, seed=5, tau=0.4):
    rows = db.execute(
        "SELECT value_name, win_probability, given FROM genome._joint_win_probabilities("
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s)",
        (
            [len(params)],
            params,
            [float(x) for x in mean],
            [float(x) for x in np.linalg.cholesky(cov).ravel()],
            [float(x) for x in average],
            names,
            [float(x) for x in means],
            draws,
            seed,
            [1],
            ["a&b"],
            [tau],
        ),
    ).fetchall()
    return rows


def test_block_draws_match_a_brute_force_monte_carlo(db: psycopg.Connection) -> None:
    """A block of two dimensions: the share of draws in which each value is in the best
    combination, and b's best value given each value of a, against a numpy Monte Carlo of
    the same posterior (its own stream); the cell no ad carried is drawn from the pair sd.
    Each value's mean is its own average-ad rate, so the causal scaling is neutral."""
    rng = np.random.default_rng(8)
    params, mean, cov, average, names = _block_stage(rng)
    tau = 0.4
    ref_rng = np.random.default_rng(99)
    m = 400_000
    theta = mean + ref_rng.standard_normal((m, len(params))) @ np.linalg.cholesky(cov).T
    # Each value's mean rate at the average ad with it in its dimension's place.
    dims = [p.split("=")[0] if "&" not in p and "=" in p else "" for p in params]
    means = []
    for name in names:
        c = np.where([d == name.split("=")[0] for d in dims], 0.0, average)
        c[params.index(name)] = 1.0
        means.append(float(np.mean(expit(theta @ c))))
    rows = _block_wins(db, params, mean, cov, average, names, means, 20000, tau=tau)
    # The reference grid of log-odds per draw (the block is every dimension: the average ad
    # outside it is the intercept).
    grid = theta[:, [0]][:, :, None] + theta[:, 1:4][:, :, None] + theta[:, 4:8][:, None, :]
    cell = np.zeros((m, 3, 4))
    for j, p in enumerate(params[8:]):
        u, v = p.split("&")
        cell[:, names.index(u), names.index(v) - 3] = theta[:, 8 + j]
    cell[:, 2, 3] = ref_rng.standard_normal(m) * tau
    grid = grid + cell
    a_best, b_best = np.unravel_index(grid.reshape(m, -1).argmax(axis=1), (3, 4))
    got = {(n, None if g is None else tuple(g)): w for n, w, g in rows}
    assert {n for n, g in got if g is None} == set(names)
    for i in range(3):
        assert got[(names[i], None)] == pytest.approx(np.mean(a_best == i), abs=0.02)
    for j in range(4):
        assert got[(names[3 + j], None)] == pytest.approx(np.mean(b_best == j), abs=0.02)
    cond = grid.argmax(axis=2)  # b's best value given each value of a
    for i in range(3):
        for j in range(4):
            assert got[(names[3 + j], (names[i],))] == pytest.approx(
                np.mean(cond[:, i] == j), abs=0.02
            )
        assert sum(got[(names[3 + j], (names[i],))] for j in range(4)) == pytest.approx(1.0)
    # Without pair terms kept no block is drawn: no conditional rows.
    plain = _block_wins(db, params[:8], mean[:8], cov[:8, :8], average[:8], names, means, 2000)
    assert all(g is None for _, _, g in plain)


# --- Through update_scores and selection --------------------------------------------------


def _interaction_brand(db, seed=3, n_ads=300):
    """A brand whose clicks depend on the hook and angle together (sd 0.6 on the log-odds
    per cell, small main effects), the other dimensions random; each ad 5,000 impressions.
    Returns the brand, the two dimensions and the true cell effects."""
    dims = _dimensions(db)
    d1, d2 = "belief_angle", "hook_type"
    rng = np.random.default_rng(seed)
    cell = rng.normal(0, 0.6, (len(dims[d1]), len(dims[d2])))
    tags, impressions, clicks = [], [], []
    for _ in range(n_ads):
        t = {d: str(rng.choice(v)) for d, v in dims.items()}
        eta = -3.5 + cell[dims[d1].index(t[d1]), dims[d2].index(t[d2])]
        tags.append(t)
        impressions.append(5000)
        clicks.append(int(rng.binomial(5000, expit(eta))))
    b_id = f.brand(db)
    day = (T0 - 2 * DAY).date()
    _brand_ads(db, b_id, tags, impressions, clicks, [day] * n_ads, [day] * n_ads, [T0] * n_ads)
    return b_id, dims, (d1, d2), cell


def test_an_interaction_is_learned_as_a_block_and_drawn_together(db: psycopg.Connection) -> None:
    _use(db, "joint_logistic")
    b_id, dims, (d1, d2), cell = _interaction_brand(db)
    db.execute("SET ROLE genome_owner")
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    db.execute("RESET ROLE")
    groups, sds, params = db.execute(
        "SELECT pair_groups, pair_sd, parameters FROM genome.learner_posteriors "
        "WHERE brand_id = %s AND stage = 1",
        (b_id,),
    ).fetchone()
    by_group = dict(zip(groups, sds, strict=True))
    # The true pair is kept with an sd of its size; pairs of unrelated dimensions dropped.
    assert by_group[f"{d1}&{d2}"] > 0.3
    assert sum(sd >= 0.1 for sd in sds) <= 2
    assert any(p.startswith(f"{d1}=") and "&" in p for p in params)
    # The draw table: the hook drawn given the angle, in one run per angle.
    dimensions, blocks = db.execute(
        "SELECT dimensions, blocks FROM genome.selection_tables WHERE brand_id = %s",
        (b_id,),
    ).fetchone()
    place = {d: i + 1 for i, d in enumerate(dimensions)}
    assert blocks[place[d2] - 1] == place[d1] and blocks[place[d1] - 1] == place[d1]
    conditional = {
        (g[0], v): w
        for v, g, w in db.execute(
            "SELECT element_value, given_values, win_probability FROM genome.learner_conditional_wins "
            "WHERE brand_id = %s AND element_dimension = %s",
            (b_id, d2),
        )
    }
    assert len(conditional) == len(dims[d1]) * len(dims[d2])
    marginal = dict(
        db.execute(
            "SELECT element_value, win_probability FROM genome.creative_element_scores "
            "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = %s",
            (b_id, d1),
        ).fetchall()
    )
    # Seeded draws: the pairs' frequencies are the angle's win probability times the hook's
    # given the angle (with the exploration rate), and each logged hook propensity is that
    # conditional probability.
    n = 3000
    pairs = Counter()
    explore = None
    for seed in range(n):
        sel = db.execute(
            "SELECT genome.select_elements(%s, NULL, %s, %s)", (b_id, T0, seed)
        ).fetchone()[0]
        explore = sel["exploration_rate"]
        a, h = sel["element_tags"][d1], sel["element_tags"][d2]
        pairs[(a, h)] += 1
        expected = explore / len(dims[d2]) + (1 - explore) * conditional[(a, h)]
        assert sel["propensities"][d2] == pytest.approx(expected, abs=1e-6)
    for (a, h), count in pairs.most_common(5):
        p_a = explore / len(dims[d1]) + (1 - explore) * marginal[a]
        p = p_a * (explore / len(dims[d2]) + (1 - explore) * conditional[(a, h)])
        assert count / n == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n) + 1e-3)
    # What the block buys: the chosen cells are mostly the best ones (the truth's top 5 of
    # 120 cells), and a forced angle draws the hook that is best with it.
    top = set(
        sorted(
            itertools.product(range(len(dims[d1])), range(len(dims[d2]))), key=lambda c: -cell[c]
        )[:5]
    )
    share = (
        sum(c for (a, h), c in pairs.items() if (dims[d1].index(a), dims[d2].index(h)) in top) / n
    )
    assert share > 0.5
    worst_angle = dims[d1][int(np.argmin(cell.max(axis=1)))]
    hooks = Counter(
        db.execute(
            "SELECT genome.select_elements(%s, NULL, %s, %s, %s)",
            (b_id, T0, seed, psycopg.types.json.Jsonb({d1: worst_angle})),
        ).fetchone()[0]["element_tags"][d2]
        for seed in range(300)
    )
    best_hook = dims[d2][int(np.argmax(cell[dims[d1].index(worst_angle)]))]
    assert hooks.most_common(1)[0][0] == best_hook
    # plan_ads draws from the same blocks: its ads are select_elements' with seeds s + i
    # (drawn first: the plan counts in the brand's planned ads).
    want = [
        r[0]
        for r in db.execute(
            "SELECT genome.select_elements(%s, NULL, %s, s) FROM generate_series(500, 519) AS s",
            (b_id, T0),
        )
    ]
    run = f.ad_run(db, f.product(db, b_id), max_attempts=100)
    ids = [r[0] for r in db.execute("SELECT genome.plan_ads(%s, 20, %s, 500)", (run, T0))]
    planned = db.execute(
        "SELECT element_tags, element_propensities -> 'propensities' FROM generated_ads "
        "WHERE id = ANY(%s) ORDER BY prompt_index",
        (ids,),
    ).fetchall()
    assert len(planned) == 20
    for w, (tags, props) in zip(want, planned, strict=True):
        assert {d: tags[d] for d in w["element_tags"]} == w["element_tags"]
        assert props == w["propensities"]
    # Each planned ad scored from the blocks' table as pre_gen_score reads the scores
    # (docs/learning.md#pre-generation-score).
    scores = db.execute(
        "SELECT g.pre_gen_score, genome.pre_gen_score(%s, NULL, g.element_tags) "
        "FROM generated_ads AS g WHERE g.id = ANY(%s)",
        (b_id, ids),
    ).fetchall()
    assert len(scores) == 20 and all(s is not None and s == r for s, r in scores)
