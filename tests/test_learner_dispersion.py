"""The joint learner's two forms of overdispersion (docs/learning.md#overdispersion):
Williams' extra-binomial share of the rate and a logit-normal spread of each ad's log-odds,
and the per-fit choice between them. The fit against a reference written apart with
statsmodels and scipy, the choice against the extended quasi-likelihood computed there, and
simulations with the truth known: lognormal creative spread (the logit-normal form's
assumption) and beta-binomial spread (Williams'), both with Meta-like unequal delivery."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

from sim import factories as f
from tests.test_learner import DAY, T0, _brand_ads, _one_hot, _use
from tests.test_learner import _fit as _learner_fit

FORMS = ("williams", "logit_normal")


def _fit(db, designs, successes, trials, levels, form):
    """genome._joint_logistic_fit with one overdispersion form, a weak prior (sd 100)."""
    return _learner_fit(db, designs, successes, trials, levels, form=form)


def _quasi_glm(successes, trials, X):
    """The reference, apart from the fit: the binomial GLM (statsmodels) on a full-rank X,
    then per form the share solving Pearson chi-square (each ad's term over its factor) =
    residual df, the factors (Williams 1 + (n - 1) rho; logit-normal 1 + n p (1 - p) s2) and
    their sum of logs, the GLM refitted with each ad's weight divided by its factor.
    Returns per form (refit, dispersion, sum of log factors)."""
    n = np.asarray(trials, dtype=float)
    y = np.asarray(successes, dtype=float)
    endog = np.column_stack([y, n - y])
    glm = sm.GLM(endog, X, family=sm.families.Binomial()).fit(tol=1e-12)
    p = glm.mu
    info = n * p * (1 - p)
    terms = (y - n * p) ** 2 / info
    df = len(y) - X.shape[1]
    assert terms.sum() > df, "the reference expects overdispersed data"
    out = {}
    for form, extra, upper in (("williams", n - 1, 1.0), ("logit_normal", info, 900.0)):
        share = brentq(lambda r, e=extra: np.sum(terms / (1 + e * r)) - df, 0.0, upper, xtol=1e-14)
        factor = 1 + extra * share
        refit = sm.GLM(endog, X, family=sm.families.Binomial(), var_weights=1 / factor).fit(
            tol=1e-12
        )
        out[form] = (refit, info.sum() / (info / factor).sum(), float(np.sum(np.log(factor))))
    return out


def _brand(rng, levels, n_ads, spread, *, kind="lognormal", effect_sd=0.6):
    """One brand's ads: random designs, effects of sd effect_sd around a CTR of about 2%,
    Meta-like unequal delivery (trials lognormal, log-sd 1.2) and creative spread, either
    each ad's CTR times a mean-one lognormal of sd `spread` or (kind beta) its CTR drawn
    from a Beta with that mean and the coefficient of variation `spread` at a CTR of 2%."""
    designs = [tuple(int(rng.integers(n)) for n in levels) for _ in range(n_ads)]
    X = _one_hot(designs, levels)
    true = np.concatenate([[-3.9], rng.normal(0, effect_sd, X.shape[1] - 1)])
    mean_rate = expit(X @ true)
    if kind == "lognormal":
        rate = mean_rate * np.exp(rng.normal(-(spread**2) / 2, spread, n_ads))
    else:
        # A Beta of mean p has variance rho p (1 - p), rho = 1 / (M + 1): CV spread at 2%.
        rho = spread**2 * 0.02 / 0.98
        m = 1 / rho - 1
        rate = rng.beta(mean_rate * m, (1 - mean_rate) * m)
    trials = np.round(np.exp(rng.normal(np.log(3000), 1.2, n_ads))).astype(int) + 50
    return designs, X, true, trials, rng.binomial(trials, np.clip(rate, 0, 1))


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_the_reference_quasi_likelihood_fit(db: psycopg.Connection, form) -> None:
    rng = np.random.default_rng(3)
    levels = [3, 2]
    designs, X, _, trials, successes = _brand(rng, levels, 150, 0.5)
    fit = _fit(db, designs, successes, trials, levels, form)
    keep = [0, 2, 3, 5]
    refit, dispersion, _ = _quasi_glm(successes, trials, X[:, keep])[form]
    assert fit["form"] == form
    np.testing.assert_allclose(X @ fit["mean"], X[:, keep] @ refit.params, atol=1e-4)
    assert fit["dispersion"] == pytest.approx(dispersion, rel=1e-4)
    # The contrast of two values of the first dimension: the refit's variance (the fit's
    # weak prior of sd 100 aside).
    c = np.zeros(X.shape[1])
    c[1], c[2] = -1.0, 1.0
    assert c @ fit["cov"] @ c == pytest.approx(refit.cov_params()[1, 1], rel=1e-3)


def test_auto_takes_the_form_with_the_smaller_sum_of_log_factors(db: psycopg.Connection) -> None:
    """'auto' is the extended quasi-likelihood's choice (both forms match the same Pearson
    chi-square, so it comes down to the sum of the log factors), on brands of either
    kind of spread; and its fit is that form's."""
    rng = np.random.default_rng(8)
    levels = [3, 2]
    keep = [0, 2, 3, 5]
    chosen = set()
    for kind in ("lognormal", "beta", "lognormal", "beta"):
        designs, X, _, trials, successes = _brand(rng, levels, 150, 0.5, kind=kind)
        ref = _quasi_glm(successes, trials, X[:, keep])
        expected = min(FORMS, key=lambda form: ref[form][2])
        auto = _fit(db, designs, successes, trials, levels, "auto")
        assert auto["form"] == expected
        one = _fit(db, designs, successes, trials, levels, expected)
        np.testing.assert_allclose(auto["mean"], one["mean"], atol=1e-9)
        np.testing.assert_allclose(auto["cov"], one["cov"], atol=1e-9)
        chosen.add(expected)
    assert chosen == set(FORMS), "the brands should exercise both choices"


def _contrasts(db, kind, form, seed, brands=40):
    """Over simulated brands (4 x 3 values, 150 ads, spread 0.5 of the given kind), the
    errors and 90% coverage of every value's contrast with its dimension's first value,
    and how often 'auto' (when asked) chose each form."""
    rng = np.random.default_rng(seed)
    levels = [4, 3]
    errors, covered, forms = [], [], []
    z = norm.ppf(0.95)
    for _ in range(brands):
        designs, X, true, trials, successes = _brand(rng, levels, 150, 0.5, kind=kind)
        fit = _fit(db, designs, successes, trials, levels, form)
        forms.append(fit["form"])
        for o, size in zip(fit["offsets"], levels, strict=True):
            for j in range(1, size):
                c = np.zeros(X.shape[1])
                c[o], c[o + j] = -1.0, 1.0
                est, sd = c @ fit["mean"], np.sqrt(c @ fit["cov"] @ c)
                errors.append(est - c @ true)
                covered.append(abs(est - c @ true) <= z * sd)
    return np.sqrt(np.mean(np.square(errors))), float(np.mean(covered)), forms


def test_lognormal_creative_spread_is_fitted_better_by_the_logit_normal_form(
    db: psycopg.Connection,
) -> None:
    """CTR times a lognormal per ad (the creative spread of real ads, the learning
    benchmark's spread families) with effects that move CTR several-fold: Williams' form
    gives the low-CTR ads too much scatter and the high-CTR ones too little; the
    logit-normal form's estimates are closer and its intervals cover; 'auto' picks it."""
    williams = _contrasts(db, "lognormal", "williams", 21)
    logit_normal = _contrasts(db, "lognormal", "logit_normal", 21)
    auto = _contrasts(db, "lognormal", "auto", 21)
    print(
        f"rmse / coverage: williams {williams[:2]}, logit-normal {logit_normal[:2]}, auto {auto[:2]}"
    )
    assert logit_normal[0] < 0.95 * williams[0]
    assert 0.83 <= logit_normal[1] <= 0.97
    assert auto[2].count("logit_normal") >= 0.7 * len(auto[2])
    assert auto[0] <= 1.02 * logit_normal[0]


def test_beta_binomial_spread_keeps_williams_within_reach(db: psycopg.Connection) -> None:
    """The other way round: each ad's CTR from a Beta (Williams' own assumption). 'auto'
    mostly picks Williams, and loses little against always using it."""
    williams = _contrasts(db, "beta", "williams", 22)
    auto = _contrasts(db, "beta", "auto", 22)
    print(f"rmse / coverage: williams {williams[:2]}, auto {auto[:2]}, forms {auto[2]}")
    assert auto[2].count("williams") >= 0.6 * len(auto[2])
    assert auto[0] <= 1.05 * williams[0]
    assert 0.83 <= auto[1] <= 0.97


def test_a_fit_without_overdispersion_reports_no_form(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(4)
    levels = [3, 2]
    designs = [tuple(int(rng.integers(n)) for n in levels) for _ in range(100)]
    X = _one_hot(designs, levels)
    trials = np.full(len(designs), 2000)
    # Every ad's clicks at their expectation: less scatter than binomial noise.
    successes = np.round(trials * expit(X @ np.array([-3.5, 0, 0.3, -0.2, 0, 0.2])))
    fit = _fit(db, designs, successes, trials, levels, "auto")
    assert fit["form"] is None
    assert fit["dispersion"] == 1.0


def test_an_unknown_form_is_refused(db: psycopg.Connection) -> None:
    with pytest.raises(
        psycopg.Error, match="dispersion form must be auto, williams or logit_normal"
    ):
        _fit(db, [(0, 0), (1, 1)], [1, 2], [100, 100], [2, 2], "gamma")


def test_update_scores_records_the_form_and_refuses_a_bad_setting(db: psycopg.Connection) -> None:
    """Through update_scores: Williams' form by default; with auto, a brand whose ads' CTR
    scatter lognormally gets the logit-normal form in learner_posteriors; a setting outside
    the three forms is GN090 and writes nothing."""
    _use(db, "joint_logistic")
    rng = np.random.default_rng(12)
    brand = f.brand(db)
    values = {
        d: [
            r[0]
            for r in db.execute(
                "SELECT value FROM genome.element_values WHERE dimension = %s ORDER BY value LIMIT 4",
                (d,),
            )
        ]
        for d in ("hook_type", "template_category")
    }
    effects = {d: dict(zip(v, rng.normal(0, 0.6, len(v)), strict=True)) for d, v in values.items()}
    tags, impressions, clicks = [], [], []
    for _ in range(160):
        t = {d: str(rng.choice(v)) for d, v in values.items()}
        rate = expit(-3.9 + sum(effects[d][t[d]] for d in t)) * np.exp(rng.normal(-0.125, 0.5))
        n = int(np.exp(rng.normal(np.log(3000), 1.2))) + 50
        tags.append(t)
        impressions.append(n)
        clicks.append(int(rng.binomial(n, min(rate, 1.0))))
    day = (T0 - 2 * DAY).date()
    _brand_ads(db, brand, tags, impressions, clicks, [day] * 160, [day] * 160, [T0] * 160)
    db.execute(
        "UPDATE genome.settings SET value = '\"beta\"' WHERE key = 'learner_dispersion_form'"
    )
    with pytest.raises(psycopg.Error, match="learner_dispersion_form") as err:
        db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert err.value.sqlstate == "GN090"
    assert db.execute("SELECT count(*) FROM genome.learner_posteriors").fetchone()[0] == 0
    db.execute(
        "UPDATE genome.settings SET value = '\"williams\"' WHERE key = 'learner_dispersion_form'"
    )
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    posterior = (
        "SELECT dispersion_form, dispersion FROM genome.learner_posteriors WHERE brand_id = %s"
    )
    assert db.execute(posterior, (brand,)).fetchone()[0] == "williams"
    db.execute(
        "UPDATE genome.settings SET value = '\"auto\"' WHERE key = 'learner_dispersion_form'"
    )
    db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    form, dispersion = db.execute(
        "SELECT dispersion_form, dispersion FROM genome.learner_posteriors WHERE brand_id = %s",
        (brand,),
    ).fetchone()
    assert form == "logit_normal"
    assert dispersion > 3
