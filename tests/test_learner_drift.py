"""Drift terms in the joint learner (docs/learning.md#drift): the fit against an exact
minimization of the model with its drift cells, the posterior of the newest ads after a
swap, a market that did not move keeping the model without drift, and update_scores
storing each dimension's drift."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from sim import factories as f
from tests.test_learner import DAY, T0, _brand_ads, _dimensions, _use

LEVELS = (3, 4)
INTERCEPT_SD = 2.0
VALUE_SD = 1.0


def _design(cells):
    """Per-entry ad and parameter indices (1-based) of two dimensions' values, after the
    intercept (1), and the parameters' groups."""
    ad_index, param_index = [], []
    for i, (a, b) in enumerate(cells):
        ad_index += [i + 1, i + 1]
        param_index += [2 + a, 2 + LEVELS[0] + b]
    groups = [0] + [1] * LEVELS[0] + [2] * LEVELS[1]
    return ad_index, param_index, groups


def _fit(db, cells, ages, s, n, *, drift_days=7.0, min_sd=0.0, kept_sds=None):
    ad_index, param_index, groups = _design(cells)
    k = len(groups)
    row = db.execute(
        "SELECT posterior_mean, posterior_cholesky, dispersion, kept_parameters, drift_sd "
        "FROM genome._joint_logistic_fit(%s, %s, %s, %s, %s, %s, %s, %s, %s, 1.0, %s, NULL, "
        "'Infinity', 7, 3, NULL, %s, NULL, NULL, %s, 0.3, p_kept_sds => %s)",
        (
            ad_index,
            param_index,
            [float(x) for x in s],
            [float(x) for x in n],
            [1.0] * len(cells),
            [1] * len(cells),
            [-3.0] + [0.0] * (k - 1),
            [INTERCEPT_SD] + [VALUE_SD] * (k - 1),
            groups,
            [float(a) for a in ages],
            min_sd,
            drift_days,
            kept_sds,
        ),
    ).fetchone()
    chol = np.asarray(row[1]).reshape(k, k)
    return {
        "mean": np.asarray(row[0]),
        "cov": chol @ chol.T,
        "dispersion": row[2],
        "kept": row[3],
        "drift_sd": row[4],
    }


def _market(rng, n_ads, *, swap_age=None, trials=4000):
    """Ads of random values and ages 0-40 days; with swap_age, dimension 1's values 0 and 2
    trade effects for the ads younger than that."""
    effects = [np.array([0.8, 0.0, -0.3]), rng.normal(0, 0.3, LEVELS[1])]
    cells = [(int(rng.integers(LEVELS[0])), int(rng.integers(LEVELS[1]))) for _ in range(n_ads)]
    ages = rng.uniform(0, 40, n_ads)
    eta = []
    for (a, b), age in zip(cells, ages, strict=True):
        first = effects[0].copy()
        if swap_age is not None and age < swap_age:
            first[[0, 2]] = first[[2, 0]]
        eta.append(-3.0 + first[a] + effects[1][b])
    n = np.full(n_ads, trials)
    return cells, ages, rng.binomial(n, expit(np.array(eta))), n


@pytest.mark.parametrize("kept_sds", [None, [0.5, 0.15]], ids=["fitted", "kept"])
def test_drift_fit_is_the_exact_minimum_with_its_cells_integrated_out(
    db: psycopg.Connection, kept_sds: list[float] | None
) -> None:
    """Equal trials (every ad's Williams factor is the dispersion): the MAP is the model
    parameters' part of the minimum of binomial deviance / dispersion plus the Gaussian
    prior, the steps' old-ads levels and drift cells included at their fitted sds (scipy
    from scratch), and the covariance is the inverse Hessian's block of the model
    parameters. With sds kept from an earlier choice (docs/learning.md#kept-structure),
    the same at those sds, which the fit returns as its own."""
    cells, ages, s, n = _market(np.random.default_rng(3), 240, swap_age=12)
    fit = _fit(db, cells, ages, s, n, kept_sds=kept_sds)
    if kept_sds is None:
        assert fit["drift_sd"][0] > 0.2
    else:
        assert fit["drift_sd"] == kept_sds
    ad_index, param_index, groups = _design(cells)
    k = len(groups)
    X = np.zeros((len(cells), k))
    X[:, 0] = 1.0
    X[np.asarray(ad_index) - 1, np.asarray(param_index) - 1] = 1.0
    # The steps at 7, 14 and 28 days (the ages 0-40 reach no fourth, 56): per step a level
    # and every value's cell, each ad carrying the steps its age has passed.
    steps = [(np.asarray(ages) >= e).astype(float) for e in (7.0, 14.0, 28.0)]
    X = np.hstack([X] + [st[:, None] for st in steps] + [st[:, None] * X[:, 1:] for st in steps])
    groups = np.asarray(groups)
    sd = np.concatenate(
        [
            [INTERCEPT_SD],
            np.full(k - 1, VALUE_SD),
            np.full(len(steps), INTERCEPT_SD),
            np.tile([fit["drift_sd"][g - 1] for g in groups[1:]], len(steps)),
        ]
    )
    precision = 1.0 / sd**2
    m0 = np.concatenate([[-3.0], np.zeros(len(sd) - 1)])

    def objective(b):
        eta = X @ b
        loglik = np.sum(s * eta - n * np.logaddexp(0.0, eta)) / fit["dispersion"]
        grad = X.T @ (s - n * expit(eta)) / fit["dispersion"] - precision * (b - m0)
        return -loglik + 0.5 * np.sum(precision * (b - m0) ** 2), -grad

    ref = minimize(objective, m0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    np.testing.assert_allclose(fit["mean"], ref.x[:k], atol=2e-5)
    p = expit(X @ ref.x)
    hessian = X.T @ ((n * p * (1 - p) / fit["dispersion"])[:, None] * X) + np.diag(precision)
    np.testing.assert_allclose(fit["cov"], np.linalg.inv(hessian)[:k, :k], rtol=2e-3, atol=1e-7)


def test_after_a_swap_the_posterior_is_the_newest_ads(db: psycopg.Connection) -> None:
    """Value 0 was best and is now middling (value 2 took its place) for the ads younger
    than 12 days: with drift terms the MAP follows the new effects; without them it is the
    old and new ads' average, and the swapped dimension's drift sd is the larger."""
    rng = np.random.default_rng(11)
    cells, ages, s, n = _market(rng, 300, swap_age=12)
    drift = _fit(db, cells, ages, s, n, min_sd=0.1)
    still = _fit(db, cells, ages, s, n, drift_days=None)
    assert still["drift_sd"] is None
    # Value 2 over value 0: 0.8 - (-0.3) now, -1.1 before the swap.
    first = slice(1, 1 + LEVELS[0])
    gap = lambda fit: fit["mean"][first][2] - fit["mean"][first][0]  # noqa: E731
    assert gap(drift) == pytest.approx(1.1, abs=0.15)
    assert gap(still) < 0.0
    assert drift["drift_sd"][0] > 2 * drift["drift_sd"][1]


def test_a_change_long_ago_is_one_step_and_leaves_no_scatter(db: psycopg.Connection) -> None:
    """The same swap 28 days ago, at a step's age: the ads 7-28 days old are already the
    new market and those older the old one. The steps separate them, so the model is the
    market and no overdispersion is left (one step at 7 days, the model before the steps,
    averaged the two within its old ads and took the misfit for creative scatter: a
    dispersion of 43); the MAP follows the new effects."""
    cells, ages, s, n = _market(np.random.default_rng(11), 300, swap_age=28)
    drift = _fit(db, cells, ages, s, n, min_sd=0.1)
    assert drift["dispersion"] < 1.5
    first = slice(1, 1 + LEVELS[0])
    assert drift["mean"][first][2] - drift["mean"][first][0] == pytest.approx(1.1, abs=0.15)
    assert drift["drift_sd"][0] > 0.3 > 0.1 > drift["drift_sd"][1]


def test_the_sds_a_fit_chose_kept_give_that_fit(db: psycopg.Connection) -> None:
    """docs/learning.md#kept-structure: given the drift sds its own search chose (one
    dimension's above the floor, the other's below), the fit keeps the same terms and
    lands on the same posterior without searching; a kept sd below the floor leaves that
    dimension's drift out, and with none above it the model is the one without drift."""
    cells, ages, s, n = _market(np.random.default_rng(11), 300, swap_age=12)
    searched = _fit(db, cells, ages, s, n, min_sd=0.1)
    assert searched["drift_sd"][0] > 0.1 > searched["drift_sd"][1]
    kept = _fit(db, cells, ages, s, n, min_sd=0.1, kept_sds=searched["drift_sd"])
    assert kept["kept"] == searched["kept"]
    assert kept["drift_sd"] == searched["drift_sd"]
    np.testing.assert_allclose(kept["mean"], searched["mean"], atol=1e-7)
    np.testing.assert_allclose(kept["cov"], searched["cov"], rtol=1e-6, atol=1e-10)
    assert kept["dispersion"] == pytest.approx(searched["dispersion"], rel=1e-6)
    # Both below the floor: no drift terms, no old-ads levels.
    none = _fit(db, cells, ages, s, n, min_sd=0.1, kept_sds=[0.05, None])
    still = _fit(db, cells, ages, s, n, drift_days=None)
    np.testing.assert_allclose(none["mean"], still["mean"], atol=1e-7)
    np.testing.assert_allclose(none["cov"], still["cov"], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(
    "kept_sds", [[0.3], [0.3, 0.3, 0.3], [0.3, 0.0], [0.3, -1.0], [0.3, float("inf")]]
)
def test_the_fit_refuses_kept_sds_that_do_not_fit_its_groups(
    db: psycopg.Connection, kept_sds: list[float]
) -> None:
    cells, ages, s, n = _market(np.random.default_rng(5), 60)
    with pytest.raises(psycopg.Error, match="kept sd"):
        _fit(db, cells, ages, s, n, kept_sds=kept_sds)


@pytest.mark.parametrize("days", [0.0, -7.0, float("nan")])
def test_the_fit_refuses_a_first_step_of_no_positive_age(
    db: psycopg.Connection, days: float
) -> None:
    """The steps' ages double from p_drift_days, so zero or less (or NaN) has none."""
    cells, ages, s, n = _market(np.random.default_rng(5), 40)
    with pytest.raises(psycopg.Error, match="drift days must be positive"):
        _fit(db, cells, ages, s, n, drift_days=days)


@pytest.mark.parametrize("days", [0, -7])
def test_update_scores_refuses_a_drift_setting_of_no_positive_age(
    db: psycopg.Connection, days: int
) -> None:
    """learner_drift_days of zero or less is GN090, and nothing is written."""
    dims = _dimensions(db)
    rng = np.random.default_rng(2)
    tags = [{d: str(rng.choice(v)) for d, v in dims.items()} for _ in range(30)]
    firsts = [(T0 - int(rng.integers(0, 20)) * DAY).date() for _ in tags]
    _brand_ads(db, f.brand(db), tags, [5000] * 30, [60] * 30, firsts, firsts, [T0] * 30)
    _use(db, "joint_logistic", learner_drift_days=days)
    with pytest.raises(psycopg.Error, match="learner_drift_days") as err:
        db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert err.value.sqlstate == "GN090"
    assert db.execute("SELECT count(*) FROM genome.learner_posteriors").fetchone()[0] == 0


@pytest.mark.parametrize(
    "setting", [{"learner_structure_refresh_days": -1}, {"learner_structure_refresh_growth": -0.1}]
)
def test_update_scores_refuses_a_structure_bound_below_zero(
    db: psycopg.Connection, setting: dict[str, float]
) -> None:
    """docs/learning.md#kept-structure: a negative refresh bound is GN090, and nothing is
    written."""
    dims = _dimensions(db)
    rng = np.random.default_rng(2)
    tags = [{d: str(rng.choice(v)) for d, v in dims.items()} for _ in range(30)]
    firsts = [(T0 - int(rng.integers(0, 20)) * DAY).date() for _ in tags]
    _brand_ads(db, f.brand(db), tags, [5000] * 30, [60] * 30, firsts, firsts, [T0] * 30)
    _use(db, "joint_logistic", **setting)
    with pytest.raises(psycopg.Error, match="learner_structure_refresh") as err:
        db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert err.value.sqlstate == "GN090"
    assert db.execute("SELECT count(*) FROM genome.learner_posteriors").fetchone()[0] == 0


def test_a_market_that_did_not_move_keeps_the_model_without_drift(
    db: psycopg.Connection,
) -> None:
    """Stationary effects: every dimension's drift sd ends below the floor, the drift
    cells and the old ads' levels are dropped, and the posterior is the fit without drift
    terms."""
    cells, ages, s, n = _market(np.random.default_rng(5), 300)
    drift = _fit(db, cells, ages, s, n, min_sd=0.1)
    still = _fit(db, cells, ages, s, n, drift_days=None)
    assert max(drift["drift_sd"]) < 0.1
    np.testing.assert_allclose(drift["mean"], still["mean"], atol=1e-7)
    np.testing.assert_allclose(drift["cov"], still["cov"], rtol=1e-6, atol=1e-10)


def test_update_scores_stores_the_drift_and_ranks_by_the_newest_ads(
    db: psycopg.Connection,
) -> None:
    """A brand whose best hook swapped with another ten days ago: update_scores keeps the
    hook's drift (larger than any other dimension's), and the swapped-in hook now has the
    higher win probability; with learner_drift_days null no drift is stored and the old
    ads outvote the new: the swapped-in hook's lead is gone (the old winner leads or the
    two are near a tie, as the overdispersion's form weighs the ads)."""
    dims = _dimensions(db)
    hooks = dims["hook_type"]
    old_best, new_best = hooks[0], hooks[1]
    rng = np.random.default_rng(7)
    tags, impressions, clicks, firsts = [], [], [], []
    for _ in range(400):
        age = int(rng.integers(0, 31))
        t = {d: str(rng.choice(v)) for d, v in dims.items()}
        # As a learner would choose: the winner on three ads in four before the swap, on
        # half after it, the new best now and then.
        u = rng.random()
        if u < (0.75 if age >= 10 else 0.5):
            t["hook_type"] = old_best
        elif age < 10 and u < 0.65:
            t["hook_type"] = new_best
        lift = {old_best: 0.8, new_best: 0.0} if age >= 10 else {old_best: 0.0, new_best: 0.8}
        eta = -3.5 + lift.get(t["hook_type"], 0.0)
        tags.append(t)
        impressions.append(5000)
        clicks.append(int(rng.binomial(5000, expit(eta))))
        firsts.append((T0 - age * DAY).date())
    b_id = f.brand(db)
    _brand_ads(db, b_id, tags, impressions, clicks, firsts, firsts, [T0] * len(tags))

    def learn(**settings):
        _use(db, "joint_logistic", **settings)
        db.execute("SET ROLE genome_owner")
        db.execute("SELECT genome.update_scores(%s, true)", (T0,))
        db.execute("RESET ROLE")
        drift = db.execute(
            "SELECT drift_dimensions, drift_sd FROM genome.learner_posteriors "
            "WHERE brand_id = %s AND stage = 1",
            (b_id,),
        ).fetchone()
        wins = dict(
            db.execute(
                "SELECT element_value, win_probability FROM genome.creative_element_scores "
                "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = 'hook_type' "
                "AND element_value = ANY(%s)",
                (b_id, [old_best, new_best]),
            ).fetchall()
        )
        return drift, wins

    (names, sds), wins = learn()
    by_dim = dict(zip(names, sds, strict=True))
    assert by_dim["hook_type"] > 0.2  # two of 15 hooks moved by 0.8: sqrt(2 * 0.64 / 15)
    assert by_dim["hook_type"] == max(sd for sd in sds if sd is not None)
    assert wins[new_best] > wins[old_best]
    lead = wins[new_best] - wins[old_best]
    (names, sds), wins = learn(learner_drift_days=None)
    assert names is None and sds is None
    print(
        f"the new best's lead: {lead:.3f} with drift terms, {wins[new_best] - wins[old_best]:.3f} without"
    )
    assert wins[new_best] - wins[old_best] < lead / 3


def test_daily_updates_keep_the_structure_until_it_is_due(db: psycopg.Connection) -> None:
    """docs/learning.md#kept-structure: the update that fits a brand first chooses its pair
    and drift sds (structure_chosen_at is its p_now); the updates of the next
    learner_structure_refresh_days refit the parameters on the newer ages with those very
    sds; the first update past that window, one at an earlier p_now than the choice, one
    with more than learner_structure_refresh_growth (2%) more ads than the choice was made
    on, and every update with the setting 0 choose again."""
    dims = _dimensions(db)
    rng = np.random.default_rng(13)
    tags, impressions, clicks, firsts = [], [], [], []
    for _ in range(300):
        age = int(rng.integers(0, 31))
        t = {d: str(rng.choice(v)) for d, v in dims.items()}
        lift = 0.8 if t["hook_type"] == dims["hook_type"][0 if age >= 10 else 1] else 0.0
        tags.append(t)
        impressions.append(5000)
        clicks.append(int(rng.binomial(5000, expit(-3.5 + lift))))
        firsts.append((T0 - age * DAY).date())
    b_id = f.brand(db)
    _brand_ads(db, b_id, tags, impressions, clicks, firsts, firsts, [T0] * len(tags))
    _use(db, "joint_logistic")

    def learn(p_now):
        db.execute("SET ROLE genome_owner")
        db.execute("SELECT genome.update_scores(%s, true)", (p_now,))
        db.execute("RESET ROLE")
        return db.execute(
            "SELECT structure_chosen_at, pair_sd, drift_sd, posterior_mean "
            "FROM genome.learner_posteriors WHERE brand_id = %s AND stage = 1",
            (b_id,),
        ).fetchone()

    chosen = learn(T0)
    assert chosen[0] == T0 and chosen[1] and chosen[2]
    for days in (1, 6):
        kept = learn(T0 + days * DAY)
        assert kept[0] == T0
        assert (kept[1], kept[2]) == (chosen[1], chosen[2])
        assert kept[3] != chosen[3]  # the ads are older: the parameters were refitted
    again = learn(T0 + 7 * DAY)
    assert again[0] == T0 + 7 * DAY and again[2] != chosen[2]
    assert learn(T0 + 5 * DAY)[0] == T0 + 5 * DAY  # earlier than the choice
    # 6 more ads (2%) keep it; 7 (over 2%) are more evidence than it was chosen on.
    more = [{d: str(rng.choice(v)) for d, v in dims.items()} for _ in range(7)]
    day = (T0 + 5 * DAY).date()
    _brand_ads(db, b_id, more[:6], [5000] * 6, [150] * 6, [day] * 6, [day] * 6, [T0] * 6)
    assert learn(T0 + 6 * DAY)[0] == T0 + 5 * DAY
    _brand_ads(db, b_id, more[6:], [5000], [150], [day], [day], [T0])
    assert learn(T0 + 6 * DAY)[0] == T0 + 6 * DAY
    _use(db, "joint_logistic", learner_structure_refresh_days=0)
    assert learn(T0 + 6 * DAY)[0] == T0 + 6 * DAY
