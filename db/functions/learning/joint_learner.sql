-- The joint learner (docs/learning.md#joint-learner): per brand, a Bayesian logistic
-- regression of every ad's successes out of its trials on the one-hot element values it
-- carries, fitted to the MAP by Newton's method with a Laplace posterior, the covariance
-- inflated by the ads' overdispersion, older evidence decayed. update_scores runs it as the
-- step _update_scores_joint_learner when the setting learner is joint_logistic.

-- One PL/Python piece on purpose: the half-life candidates' prequential scores, the final
-- fit and the per-ad dispersion all work on the same design matrix and weights in numpy; as
-- separate functions those arrays would travel back through SQL between the steps.

-- The fit before it chose its own half-life (one signature, not two overloads).
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision
);
-- The fits before pair terms (docs/learning.md#interactions): one signature each.
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer
);
DROP FUNCTION IF EXISTS genome._joint_lognormal_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer
);
-- Before the ads' values as an input and drift terms (docs/learning.md#drift): one
-- signature, not two overloads.
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision
);
-- Before the overdispersion's form and the audience context (docs/learning.md#overdispersion,
-- docs/learning.md#context): one signature each.
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision, integer [], integer [], double precision, double precision,
    integer [], integer []
);
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision, integer [], integer [], double precision, double precision
);
-- Before the per-ad offsets (docs/learning.md#frequency).
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision, integer [], integer [], double precision, double precision,
    integer [], integer [], text
);

-- Before the kept structure (docs/learning.md#kept-structure).
DROP FUNCTION IF EXISTS genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision, integer [], integer [], double precision, double precision,
    integer [], integer [], text, double precision []
);

CREATE OR REPLACE FUNCTION genome._joint_logistic_fit(
    p_ad_index integer [],
    p_param_index integer [],
    p_successes double precision [],
    p_trials double precision [],
    p_weights double precision [],
    p_objective_index integer [],
    p_prior_mean double precision [],
    p_prior_sd double precision [],
    p_groups integer [],
    p_min_dispersion double precision,
    p_ages double precision [] DEFAULT NULL,
    p_half_lives double precision [] DEFAULT NULL,
    p_fallback_half_life double precision DEFAULT 'Infinity',
    p_holdout_days double precision DEFAULT 7,
    p_holdout_folds integer DEFAULT 3,
    p_pair_groups integer [] DEFAULT NULL,
    p_pair_min_sd double precision DEFAULT 0,
    p_ad_values integer [] DEFAULT NULL,
    p_cells integer [] DEFAULT NULL,
    p_drift_days double precision DEFAULT NULL,
    p_drift_prior_sd double precision DEFAULT 0.3,
    p_ad_context integer [] DEFAULT NULL,
    p_context_params integer [] DEFAULT NULL,
    p_dispersion_form text DEFAULT 'williams',
    p_offsets double precision [] DEFAULT NULL,
    p_kept_sds double precision [] DEFAULT NULL,
    OUT posterior_mean double precision [],
    OUT posterior_cholesky double precision [],
    OUT dispersion double precision,
    OUT marginal_mean double precision [],
    OUT marginal_variance double precision [],
    OUT half_life double precision,
    OUT average_design double precision [],
    OUT effective_ads double precision,
    OUT half_life_scores double precision [],
    OUT kept_parameters boolean [],
    OUT pair_sd double precision [],
    OUT drift_sd double precision [],
    OUT dispersion_form text
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import brentq
from scipy.special import expit, log1p
from threadpoolctl import threadpool_limits

# One BLAS thread for the call (docs/learning.md#performance): a backend runs one query on
# one core, and OpenBLAS's threads spinning for a second core on a loaded machine made the
# same fit three times slower (restored before returning; an error leaves it at one).
blas = threadpool_limits(limits=1, user_api="blas")

# Inputs: per ad its successes, trials, weight and the 1-based index of its objective's
# intercept; per (ad, element value) entry the 1-based ad and parameter; per parameter its
# prior mean and sd and its group (0 for intercepts, else the dimension it belongs to, or a
# pair of dimensions: p_pair_groups rows (group, first dimension's group, second's)).
s = np.asarray(p_successes, dtype=float)
n = np.asarray(p_trials, dtype=float)
w = np.asarray(p_weights, dtype=float)
m0 = np.asarray(p_prior_mean, dtype=float)
sd = np.asarray(p_prior_sd, dtype=float)
groups = np.asarray(p_groups, dtype=np.int64)
k = len(m0)
n_ads = len(s)
if not (len(n) == n_ads and len(w) == n_ads and len(p_objective_index) == n_ads):
    plpy.error("per-ad arrays differ in length")
if not (len(sd) == k and len(groups) == k) or len(p_ad_index) != len(p_param_index):
    plpy.error("per-parameter or per-entry arrays differ in length")
if np.any(sd <= 0) or np.any(n < s) or np.any(s < 0) or np.any(w < 0):
    plpy.error("prior sd must be positive, 0 <= successes <= trials, weights >= 0")
# 8. Per ad a known shift of its log-odds (docs/learning.md#frequency): how far the ad's
# delivery fatigued it, so the parameters describe fresh ads and a heavily served ad is not
# blamed on its elements.
off = np.zeros(n_ads) if p_offsets is None else np.asarray(p_offsets, dtype=float)
if len(off) != n_ads or not np.all(np.isfinite(off)):
    plpy.error("one finite offset per ad is needed")

# The overdispersion forms a fit may use (step 2 of fit below).
DISPERSION_FORMS = {
    "auto": ("williams", "logit_normal"),
    "williams": ("williams",),
    "logit_normal": ("logit_normal",),
}
dispersion_form = p_dispersion_form
if dispersion_form not in DISPERSION_FORMS:
    plpy.error("dispersion form must be auto, williams or logit_normal")
form_used = [None]  # the form the last fit chose (NULL: no overdispersion)

# 9. A kept structure (docs/learning.md#kept-structure): p_kept_sds gives, per pair group in
# p_pair_groups' order and then per drift dimension in group order, the sd an earlier fit
# chose (NULL: no sd, the group's terms left out). The groups keep those sds, the ones at or
# above p_pair_min_sd are the model's (the others' cells are not built from p_ad_values, nor
# their drift cells at all), and the parameters are fitted once: no screening, no
# fixed-point refits.
pair_rows = [tuple(int(x) for x in row) for row in (p_pair_groups or [])]
min_sd = float(p_pair_min_sd)
kept_pair_sds = kept_drift_sds = None
if p_kept_sds is not None:
    given = [None if v is None else float(v) for v in p_kept_sds]
    if any(v is not None and not 0 < v < float("inf") for v in given) or len(given) < len(pair_rows):
        plpy.error("a kept sd must be positive, one per pair group and drift dimension")
    kept_pair_sds = dict(zip([g for g, _, _ in pair_rows], given))
    kept_drift_sds = given[len(pair_rows):]
# The pair groups a kept structure leaves out.
left_out = {g for g, v in (kept_pair_sds or {}).items() if v is None or v < min_sd}

ad_entries = np.asarray(p_ad_index, dtype=np.int64) - 1
param_entries = np.asarray(p_param_index, dtype=np.int64) - 1
if p_ad_values is not None:
    # The entries from each ad's values instead (docs/learning.md#interactions): per ad and
    # element dimension the 1-based place of its value among the values (0: none), which
    # are the parameters after the intercepts; with p_cells (per pair-cell parameter, in
    # order after the values, the places of its two values, the earlier dimension's first)
    # also the cell of every two values an ad carries. As entries the pairs would be ten
    # (ad, cell) rows an ad, built and carried through SQL.
    if len(ad_entries):
        plpy.error("give the entries or the ads' values, not both")
    values = np.asarray(p_ad_values, dtype=np.int64)
    values = values.reshape(n_ads, -1) if values.size else np.zeros((n_ads, 0), dtype=np.int64)
    first = int(np.sum(groups == 0))
    is_cell = np.isin(groups, [int(r[0]) for r in (p_pair_groups or [])])
    n_values = int(np.sum((groups > 0) & ~is_cell))
    if np.any(values < 0) or np.any(values > n_values):
        plpy.error("an ad's value is no value parameter")
    rows, cols = np.nonzero(values > 0)
    ads_e, params_e = [rows], [values[rows, cols] - 1 + first]
    if p_cells:
        cells_v = np.asarray(p_cells, dtype=np.int64).reshape(-1, 2) - 1
        if len(cells_v) != int(np.sum(is_cell)):
            plpy.error("one pair of values per pair-cell parameter is needed")
        cell_of = np.full((n_values, n_values), -1, dtype=np.int64)
        # (a cell of a pair group left out is carried by no ad)
        carried_cells = ~np.isin(groups[is_cell], list(left_out))
        cell_of[cells_v[carried_cells, 0], cells_v[carried_cells, 1]] = np.flatnonzero(carried_cells)
        for j in range(values.shape[1]):
            for l in range(j + 1, values.shape[1]):
                ok = np.flatnonzero((values[:, j] > 0) & (values[:, l] > 0))
                c = cell_of[values[ok, j] - 1, values[ok, l] - 1]
                ads_e.append(ok[c >= 0])
                params_e.append(c[c >= 0] + first + n_values)
    ad_entries, param_entries = np.concatenate(ads_e), np.concatenate(params_e)

# 7. The ads' audience context (docs/learning.md#context): per ad and context dimension the
# 1-based place of its value in p_context_params (0: none), which gives that value's
# parameter (0: none). They are nuisance parameters of group 0, like the intercepts: each
# value's effect is then its effect within the same audience, and the marginals and win
# probabilities average the context over the brand's ads as they do the objectives.
if p_ad_context:
    places = np.asarray(p_ad_context, dtype=np.int64).reshape(n_ads, -1)
    to_param = np.concatenate([[0], np.asarray(p_context_params or [], dtype=np.int64)])
    if np.any(places < 0) or np.any(places >= len(to_param)):
        plpy.error("an ad's context is no place in the context parameters")
    if np.any(to_param < 0) or np.any(to_param > k) or np.any(groups[to_param[to_param > 0] - 1] != 0):
        plpy.error("context parameters must be parameters of group 0")
    carried = to_param[places]
    rows, cols = np.nonzero(carried > 0)
    ad_entries = np.concatenate([ad_entries, rows])
    param_entries = np.concatenate([param_entries, carried[rows, cols] - 1])

# Sparse: an ad carries one intercept, one value per dimension and one cell per pair of
# dimensions, out of up to several hundred parameters once pair terms are in.
X = sparse.csr_matrix(
    (
        np.ones(n_ads + len(ad_entries)),
        (
            np.concatenate([np.arange(n_ads), ad_entries]),
            np.concatenate([np.asarray(p_objective_index, dtype=np.int64) - 1, param_entries]),
        ),
    ),
    shape=(n_ads, k),
)
X.sum_duplicates()
X.data[:] = 1.0
precision0 = 1.0 / sd**2


def as_dense(M):
    # A small design (a brand's few hundred ads, a few dozen parameters) as a dense array,
    # made once per model: scipy.sparse's overhead per product is about a millisecond, the
    # dense products microseconds (X' diag(v) X at 570 ads x 90 parameters: 0.3 ms dense on
    # one thread, 0.9 ms sparse). Pair cells make designs too wide for that (n k^2 grows),
    # and those stay sparse.
    rows, cols = M.shape
    return M.toarray() if rows * cols * cols <= 4e7 else M


Xm = as_dense(X)


def gram(v):
    # X' diag(v) X, dense.
    if isinstance(Xm, np.ndarray):
        return Xm.T @ (v[:, None] * Xm)
    return (Xm.T @ (sparse.diags(v) @ Xm)).toarray()


def inverse_diagonal(hess):
    # diag(hess^-1) from its Cholesky factor L: the column sums of squares of L^-1.
    L = np.linalg.cholesky(hess)
    return np.sum(solve_triangular(L, np.eye(len(L)), lower=True, check_finite=False) ** 2, axis=0)


def log_posterior(b, wt):
    eta = Xm @ b + off
    # log(1 + e^eta) computed stably.
    softplus = np.where(eta > 0, eta + log1p(np.exp(-np.abs(eta))), log1p(np.exp(-np.abs(eta))))
    return float(np.sum(wt * (s * eta - n * softplus)) - 0.5 * np.sum(precision0 * (b - m0) ** 2))


def newton(b, wt, tol=1e-10):
    # Newton-Raphson on the log posterior (concave: binomial log-likelihood plus a Gaussian
    # prior), halving the step until the log posterior rises.
    current = log_posterior(b, wt)
    for _ in range(200):
        p = expit(Xm @ b + off)
        grad = Xm.T @ (wt * (s - n * p)) - precision0 * (b - m0)
        hess = gram(wt * n * p * (1 - p)) + np.diag(precision0)
        step = cho_solve(cho_factor(hess, check_finite=False), grad, check_finite=False)
        t = 1.0
        while t > 1e-10:
            candidate = b + t * step
            value = log_posterior(candidate, wt)
            if value >= current - 1e-12:
                break
            t /= 2
        b, current = candidate, value
        if np.max(np.abs(t * step)) < tol:
            break
    # The Hessian of the last iteration, not one more product at the MAP: the last step is
    # below tol, and the Hessian moves with b by less than that (a quarter of the products).
    return b, hess, expit(Xm @ b + off)


def fit(wt, start=None, tol=1e-10, refit_start=None):
    """Steps 1-3 with per-ad weights wt: the MAP, the ads' overdispersion, the refit with
    each ad's weight divided by its factor (Newton from start, the prior mean by default;
    the refit from refit_start, by default the first MAP). Returns the MAP, the Hessian of
    the final fit, the dispersion (the factor by which the ads' binomial information
    shrank), the first MAP (a fit that follows starts each Newton from its own last
    answer: the two MAPs lie apart, and each started from the other took five iterations
    where two or three do) and the ads' factors the refit divided their weights by."""
    # 1. MAP with the ads' own weights.
    b, hess, p = newton(m0.copy() if start is None else start, wt, tol)
    first_map = b
    # 2. Overdispersion (docs/learning.md#overdispersion): an ad's successes vary beyond
    # binomial noise by a creative-to-creative share that does not shrink with its trials,
    # in one of two forms (p_dispersion_form; 'auto' picks per fit):
    # - Williams' extra-binomial model: variance n p (1 - p) (1 + (n - 1) rho), the rate
    #   scattering by rho p (1 - p) (a beta-binomial's);
    # - logit-normal: each ad's log-odds scatter by sigma2 around what its values predict
    #   (a random intercept per ad, the lognormal spread of CTR), variance about
    #   n p (1 - p) (1 + n p (1 - p) sigma2).
    # The share solves Pearson chi-square, each ad's term divided by its factor, = the
    # residual degrees of freedom (effective parameters = trace of the data's share of the
    # Hessian). With equal trials Williams' is the single factor Pearson chi-square / df;
    # with unequal delivery an ad with 50 times the impressions no longer counts 50 times
    # as much. Both forms match the same chi-square, so the extended quasi-likelihood
    # (Nelder and Pregibon) of the two differs only in the sum of the ads' log factors:
    # 'auto' takes the form with the smaller one.
    floor = float(p_min_dispersion)
    factor = np.full(n_ads, max(floor, 1.0))
    has = (n > 0) & (wt > 0)
    form_used[0] = None
    if has.any():
        # trace(hess^-1 info) with info = hess - the prior's precision: k - sum(precision
        # x diag(hess^-1)), one Cholesky factor instead of a solve for k right-hand sides.
        edf = float(k - np.sum(precision0 * inverse_diagonal(hess)))
        df = float(np.sum(wt[has])) - edf
        var = n * p * (1 - p)
        terms = wt[has] * (s[has] - n[has] * p[has]) ** 2 / np.maximum(var[has], 1e-12)
        if df >= 1.0 and float(np.sum(terms)) > df:
            candidates = {}
            for form in DISPERSION_FORMS[dispersion_form]:
                # Per ad the factor's slope in the share; the share's bracket (at rho = 1
                # every ad counts as one trial; a log-odds sd of 30 is past any market).
                extra = np.maximum(n - 1.0, 0.0) if form == "williams" else var
                upper = 1.0 if form == "williams" else 900.0

                def excess(share):
                    return float(np.sum(terms / (1.0 + extra[has] * share))) - df

                # Decreasing in the share.
                share = brentq(excess, 0.0, upper, xtol=1e-12) if excess(upper) < 0 else upper
                candidates[form] = np.maximum(floor, 1.0 + extra * share)
            form_used[0] = min(
                candidates, key=lambda f: float(np.sum(wt[has] * np.log(candidates[f][has])))
            )
            factor = candidates[form_used[0]]
    # 3. Refit with every ad's weight divided by its factor, so the posterior (and the
    # prior's relative weight) reflects the ads' real scatter.
    phi = 1.0
    if np.any(factor > 1.0):
        before = wt * n * p * (1 - p)
        b, hess, p = newton(b if refit_start is None else refit_start, wt / factor, tol)
        phi = float(np.sum(before) / max(np.sum(before / factor), 1e-300)) if before.sum() > 0 else 1.0
    return b, hess, max(phi, floor, 1.0), first_map, factor


def decayed(age, h):
    # Evidence halves every h days of age; h = infinity keeps all of it.
    return w * (1.0 if np.isinf(h) else 0.5 ** (np.maximum(age, 0.0) / h))


# 0. The half-life (docs/learning.md#half-life): with one candidate it is that one; with
# several, each is scored prequentially on the most recent matured ads. In each of
# p_holdout_folds windows of p_holdout_days (the newest first), the model is fitted on the
# ads older than the window, aged as if the newest of them were as old as the newest ad is
# now, and the window's ads are predicted: binomial log-likelihood at the MAP, the window's
# level (a common shift of its log-odds) fitted to the window itself. The longest
# half-life within one standard error of the best sum over the folds wins; fewer than two
# usable folds (too few ads) leave p_fallback_half_life.
chosen = float(p_fallback_half_life)
scores_out = None
if p_ages is None:
    if p_half_lives:
        plpy.error("candidate half-lives need the ads' ages")
    chosen = float("inf")
    wfinal = w
else:
    age = np.asarray(p_ages, dtype=float)
    candidates = sorted({float(h) for h in (p_half_lives or [chosen])}, reverse=True)
    if len(age) != n_ads or np.any(np.isnan(age)) or any(not h > 0 for h in candidates):
        plpy.error("one age per ad and positive half-lives are needed")
    if len(candidates) == 1:
        chosen = candidates[0]
    elif n_ads:
        newest = float(age.min())
        # The usable windows first: they depend on the ads' ages alone, and with fewer than
        # two the candidates' scores would be thrown away, so none is fitted.
        windows = []
        for fold in range(int(p_holdout_folds)):
            lo = newest + fold * float(p_holdout_days)
            hi = lo + float(p_holdout_days)
            test = (age >= lo) & (age < hi) & (w > 0)
            train = age >= hi
            # A fold needs enough ads to predict and to learn from (one per parameter).
            if test.sum() < 10 or train.sum() < k:
                continue
            windows.append((hi, test, train))
        folds = len(windows)
        per_ad = []  # per usable window: candidates x the window's ads, log-likelihoods
        for hi, test, train in windows if folds >= 2 else []:
            Xt, st, nt = X[np.flatnonzero(test)], s[test], n[test]
            bh = None
            ll = np.zeros((len(candidates), int(test.sum())))
            for i, h in enumerate(candidates):
                # Each candidate starts from the previous one's MAP (they differ little); a
                # looser tolerance than the final fit's is far below what the scores resolve.
                bh, _, _, _, _ = fit(np.where(train, decayed(age - hi + newest, h), 0.0), bh, 1e-7)
                eta = Xt @ bh + off[test]
                # The window's own level: a shift of all ads' log-odds (maximum likelihood,
                # Newton in one dimension). Ads not yet through their fatigue make the newest
                # window's level higher whether or not the market moved; what a half-life
                # is judged on is how the candidate ranks the window's ads.
                shift = 0.0
                for _ in range(50):
                    q = expit(eta + shift)
                    g = float(np.sum(w[test] * (st - nt * q)))
                    hh = float(np.sum(w[test] * nt * q * (1 - q)))
                    if hh <= 0:
                        break
                    shift += g / hh
                    if abs(g / hh) < 1e-10:
                        break
                eta = eta + shift
                # log p = -log(1 + e^-eta), log(1 - p) = -log(1 + e^eta), stably.
                ll[i] = w[test] * (-st * np.logaddexp(0.0, -eta) - (nt - st) * np.logaddexp(0.0, eta))
            per_ad.append(ll)
        if folds >= 2:
            ll = np.concatenate(per_ad, axis=1)
            score = ll.sum(axis=1)
            best = int(np.argmax(score))
            # The longest half-life whose score is within one standard error of the best
            # (the paired per-ad differences: creative spread makes single ads noisy), so
            # evidence is dropped only when the newest ads clearly ask for it.
            for i in range(len(candidates)):
                diff = ll[best] - ll[i]
                if diff.sum() <= np.sqrt(len(diff)) * np.std(diff, ddof=1):
                    chosen = candidates[i]
                    break
            by_h = dict(zip(candidates, score))
            scores_out = [float(by_h[float(h)]) for h in p_half_lives]
    wfinal = decayed(age, chosen)

# 6. Drift terms (docs/learning.md#drift): with p_drift_days, a value's effect walks back in
# time in steps at the ages p_drift_days, twice that, four times that, ... (those the
# oldest ad reached): an ad carries, per element value it has, one cell for every step its
# age has passed, each cell N(0, s^2) with one s per dimension fitted like a pair's. The
# value's own parameter is then its effect on the newest ads; the cells are integrated out
# before anything is returned (the Laplace posterior's block of the other parameters), so
# a value whose old ads disagree with its new ones follows the new, whenever it changed,
# and a value with no new ads is as uncertain as the dimension's drift says.
k_model = k
n_levels = 0
drift_dims = []
drift_ids = []
if p_drift_days is not None and not 0 < p_drift_days < float("inf"):
    plpy.error("drift days must be positive")
if p_drift_days is not None and p_ages is not None:
    # The steps' ages, doubling: a change a week ago and one two months ago are each a
    # step's cells, at a cost in parameters growing with the log of the brand's history.
    edges = []
    edge = float(p_drift_days)
    while n_ads and edge <= float(age.max()):
        edges.append(edge)
        edge *= 2.0
    steps = [(age >= e).astype(float) for e in edges]
    pair_cells = {int(g) for g, _, _ in (p_pair_groups or [])}
    drift_dims = sorted(int(g) for g in set(groups[groups > 0]) - pair_cells)
    first_id = int(groups.max(initial=0)) + 1
    cols, col_groups = [], []
    for i, g in enumerate(drift_dims):
        # (a dimension whose kept drift sd is below the floor has no drift cells; the count
        # of kept sds is checked below)
        if kept_drift_sds is not None:
            kept_sd = kept_drift_sds[i] if i < len(kept_drift_sds) else None
            if kept_sd is None or kept_sd < min_sd:
                continue
        for j in np.flatnonzero(groups == g):
            cols.append(j)
            col_groups.append(first_id + i)
    if cols and steps:
        D = sparse.hstack([sparse.diags(st) @ X[:, cols] for st in steps]).tocsc()
        carried = np.diff(D.indptr) > 0
        D = D[:, np.flatnonzero(carried)]
        col_groups = np.tile(np.asarray(col_groups, dtype=np.int64), len(steps))[carried]
        drift_ids = sorted({int(g) for g in col_groups})
        # The old ads' own level as well, a step at each age with an intercept's prior: ads
        # not yet through their fatigue are better across the board, which no value's drift
        # should absorb.
        level_sd = float(np.max(sd[groups == 0])) if np.any(groups == 0) else float(np.max(sd))
        n_levels = len(steps)
        X = sparse.hstack([X, sparse.csr_matrix(np.column_stack(steps)), D]).tocsr()
        Xm = as_dense(X)
        m0 = np.concatenate([m0, np.zeros(n_levels + D.shape[1])])
        sd = np.concatenate(
            [sd, np.full(n_levels, level_sd), np.full(D.shape[1], float(p_drift_prior_sd))]
        )
        groups = np.concatenate([groups, np.zeros(n_levels, dtype=np.int64), col_groups])
        precision0 = 1.0 / sd**2
        k = len(m0)

if kept_drift_sds is not None and len(kept_drift_sds) != len(drift_dims):
    plpy.error("a kept sd must be positive, one per pair group and drift dimension")

# 5. Pair terms (docs/learning.md#interactions): each pair of dimensions' cells share one
# prior sd, estimated from the data by MacKay's fixed point on the Laplace posterior,
# tau2 = sum(b^2) / sum(1 - var / tau2) over the group's cells (the cells no ad carries are
# not parameters: their posterior is the prior, and they add nothing to either sum), each
# refit starting from the last, until no sd moves by more than 1%. It starts from the sd
# given and is bounded by the element values' own prior sd. A pair of dimensions whose sd
# ends below p_pair_min_sd is dropped and the model refitted without it: an additive market
# keeps the additive model.
# The drift cells' groups are fitted, screened and dropped as a pair's are (one sd per group,
# cells independent given the other terms: an ad carries one cell of each).
pair_ids = [g for g, _, _ in pair_rows] + drift_ids
pair_sds = {}
b = None
# The last fit's first MAP (with the ads' own weights), where the next fit's first Newton starts.
b_first = None
# The model's parameters are those of the original ones in `active`; `use` changes them.
active = np.arange(k)
X_all, m0_all, sd_all, groups_all = X, m0, sd, groups
precision_all = precision0.copy()


def use(keep):
    # The model over the original parameters flagged in keep; the MAP carried over where it
    # has one (the prior mean elsewhere), and each prior precision as last set.
    nonlocal X, Xm, m0, sd, groups, precision0, b, b_first, k, active
    start = m0_all.copy()
    if b is not None:
        start[active] = b
    start_first = m0_all.copy()
    if b_first is not None:
        start_first[active] = b_first
    precision_all[active] = precision0
    active = np.flatnonzero(keep)
    X = X_all[:, active]
    Xm = as_dense(X)
    m0, sd, groups = m0_all[active], sd_all[active], groups_all[active]
    precision0 = precision_all[active].copy()
    b = start[active]
    b_first = start_first[active] if b_first is not None else None
    k = len(active)


if p_kept_sds is not None:
    # The kept sds (step 9) as the groups' own: the model is still every parameter here, and
    # use() takes the precisions from precision0.
    kept_sds = dict(kept_pair_sds)
    kept_sds.update({first_id + i: v for i, v in enumerate(kept_drift_sds or [])})
    for g, v in kept_sds.items():
        if v is not None:
            pair_sds[g] = v
            precision0[groups_all == g] = 1.0 / v**2
    if pair_ids:
        joint = [g for g in pair_ids if pair_sds.get(g, 0.0) >= min_sd]
        use(~np.isin(groups_all, pair_ids) | np.isin(groups_all, joint))
elif pair_ids:
    is_pair = np.isin(groups_all, pair_ids)
    main = (groups_all > 0) & ~is_pair
    cap = float(np.max(sd_all[main])) if main.any() else 1.0

    def fixed_point(tau2, step):
        # MacKay's update tau2 = sum(b^2) / sum(1 - var / tau2) until it moves < 1% in sd;
        # step(tau2) returns the cells' MAPs and posterior variances at that prior variance.
        for _ in range(100):
            u, var = step(tau2)
            new = float(np.sum(u**2)) / max(float(np.sum(1.0 - var / tau2)), 1e-12)
            new = min(max(new, 1e-4), cap**2)
            done = abs(np.log(new / tau2)) / 2 < 0.01
            tau2 = new
            if done:
                break
        return tau2

    # Screening: each pair of dimensions alone on the additive model's log-odds. An ad
    # carries one cell of a pair, so given the other terms its cells are independent: a
    # one-parameter Newton per cell, vectorized. A pair whose sd stays below half of
    # p_pair_min_sd is not fitted jointly (an additive market then costs one additive fit).
    use(~is_pair)
    b, _, phi, b_first, _ = fit(wfinal, None, 1e-8)
    offset = X @ b + off
    weight = wfinal / phi
    for g in pair_ids:
        cols = np.flatnonzero(groups_all == g)
        # Drift is not screened: a moved value inflates the additive fit's overdispersion,
        # which would hide the very drift that caused it; it is fitted jointly below.
        if g in drift_ids:
            continue
        if not len(cols):
            continue
        Xg = X_all[:, cols].tocsr()
        has = (np.diff(Xg.indptr) > 0) & (weight > 0)
        cell = Xg.indices[Xg.indptr[:-1][has]]
        o, sw, nw, m = offset[has], (weight * s)[has], (weight * n)[has], len(cols)

        def step(tau2):
            u = np.zeros(m)
            for _ in range(50):
                q = expit(o + u[cell])
                h = np.bincount(cell, nw * q * (1 - q), m) + 1.0 / tau2
                move = (np.bincount(cell, sw - nw * q, m) - u / tau2) / h
                u += move
                if np.max(np.abs(move)) < 1e-9:
                    break
            q = expit(o + u[cell])
            return u, 1.0 / (np.bincount(cell, nw * q * (1 - q), m) + 1.0 / tau2)

        pair_sds[g] = float(np.sqrt(fixed_point(1.0 / precision_all[cols[0]], step)))
        precision_all[cols] = 1.0 / pair_sds[g] ** 2
    joint = [g for g in pair_ids if g in drift_ids or pair_sds.get(g, 0.0) >= min_sd / 2]
    use(~is_pair | np.isin(groups_all, joint))

    # The pairs that passed, fitted jointly: each iteration a refit from the last MAP, then
    # every pair's MacKay update on the joint Laplace posterior; a pair far below the floor
    # (half of it) is dropped at once and the rest fit the smaller model.
    # The updates converge linearly, and a group on its way to zero (most drift groups of a
    # market that did not move) falls by a near-constant factor a refit, 20-40 refits from
    # the start to half the floor. So until every update moves by less than 1%, each group
    # takes the secant step on log tau2 through its last two updates instead: the update's
    # own step stretched by 1 / (1 - its estimated rate), at least 1 and at most STRETCH
    # times, and never below half the floor (margin MARGIN) unless the update itself goes
    # there: only a group's own update drops it. Converged, the updates are kept, as before
    # (docs/learning.md#performance).
    # Between full fits an iteration refits with the ads' dispersion factors of the last
    # full one (one Newton instead of two; the factors move little with the sds); once the
    # updates settle, a full fit checks them with the factors fitted again, and only a full
    # fit that moves nothing ends the loop: the same fixed point, in fewer Newtons.
    full = True
    STRETCH, MARGIN = 4.0, 1.21
    half_floor2 = (min_sd / 2) ** 2
    last = {}  # per group: its last log tau2 and the log of its update's factor there
    for _ in range(50 if joint else 0):
        if full:
            b, hess, phi, b_first, factor = fit(wfinal, b_first, 1e-8, b)
        else:
            b, hess, _ = newton(b, wfinal / factor, 1e-8)
        var = inverse_diagonal(hess)
        moved = 0.0
        updates = {}
        for g in joint:
            cells = groups == g
            tau2 = 1.0 / precision0[cells][0]
            new = float(np.sum((b[cells] - m0[cells]) ** 2)) / max(
                float(np.sum(1.0 - var[cells] / tau2)), 1e-12
            )
            new = min(max(new, 1e-4), cap**2)
            moved = max(moved, abs(np.log(new / tau2)) / 2)
            updates[g] = (tau2, new)
        for g, (tau2, new) in updates.items():
            x, f = float(np.log(tau2)), float(np.log(new / tau2))
            target = new
            if moved >= 0.01 and g in last and new >= half_floor2 and f != 0.0:
                x0, f0 = last[g]
                if x != x0:
                    # The secant's stretch of the update's step; none estimable (the step
                    # did not shrink): the most.
                    stretch = (x - x0) / (f0 - f) if f0 != f else -1.0
                    stretch = min(max(stretch, 1.0), STRETCH) if stretch > 0 else STRETCH
                    target = float(np.exp(x + stretch * f))
                    target = min(max(target, 1e-4, min(new, half_floor2 * MARGIN)), cap**2)
            last[g] = (x, f)
            precision0[groups == g] = 1.0 / target
            pair_sds[g] = float(np.sqrt(target))
        gone = [g for g in joint if pair_sds[g] < min_sd / 2]
        if gone:
            joint = [g for g in joint if g not in gone]
            use(np.isin(np.arange(len(groups_all)), active) & ~np.isin(groups_all, gone))
        if not joint or (moved < 0.01 and full):
            break
        full = moved < 0.01
    # Below the floor at the end: dropped too.
    below = [g for g in joint if pair_sds[g] < min_sd]
    if below:
        use(np.isin(np.arange(len(groups_all)), active) & ~np.isin(groups_all, below))
# No dimension's drift kept (searched or kept): the old ads' levels go too, so a market that
# did not move keeps the model without drift terms.
if drift_ids and not np.isin(groups, drift_ids).any():
    index = np.arange(len(groups_all))
    use(np.isin(index, active) & ~((index >= k_model) & (index < k_model + n_levels)))
kept = np.isin(np.arange(k_model), active)

b, hess, phi, _, _ = fit(wfinal, b if b_first is None else b_first, 1e-10, b)
cov = np.linalg.inv(hess)
# The drift cells integrated out: the posterior of the model's parameters is the Laplace
# covariance's block of them (docs/learning.md#drift).
model = active < k_model
b, cov, X, groups = b[model], cov[np.ix_(model, model)], X[:, np.flatnonzero(model)], groups[model]
k = len(b)
cov = (cov + cov.T) / 2
chol = np.linalg.cholesky(cov)

# The two values each pair cell joins (the cells are parameters only where ads carry them,
# and every ad carrying a cell carries both its values).
pair_of = {g: (a, c) for g, a, c in pair_rows}
members = {}
if pair_rows:
    Xc = X.tocsc()
    for j in np.flatnonzero(np.isin(groups, list(pair_of))):
        ad = Xc.indices[Xc.indptr[j]]
        row = X.indices[X.indptr[ad]:X.indptr[ad + 1]]
        a, c = pair_of[int(groups[j])]
        members[j] = (int(row[groups[row] == a][0]), int(row[groups[row] == c][0]))

# 4. Each element value's marginal success rate: the log-odds of the brand's average ad
# (its objectives and its other dimensions' values mixed as in the weighted ads, a direction
# the data pin down) with this value in its own dimension; logistic-normal mean and variance
# by Gauss-Hermite quadrature.
intercepts = groups == 0
total = float(wfinal.sum())
average = (X.T @ wfinal) / total if total > 0 else intercepts / max(intercepts.sum(), 1)
# The brand's average ad as delivered: its offsets averaged as its design is.
average_offset = float(off @ wfinal) / total if total > 0 else 0.0
nodes, hw = np.polynomial.hermite.hermgauss(40)
mm = np.full(k, np.nan)
mv = np.full(k, np.nan)
for j in np.flatnonzero(~intercepts & ~np.isin(groups, list(pair_of))):
    c = average.copy()
    c[groups == groups[j]] = 0.0
    c[j] = 1.0
    # A cell of this value's dimension with another: as often as the other value is in the
    # average ad, when the cell holds this value.
    for cell, (va, vb) in members.items():
        if groups[va] == groups[j]:
            c[cell] = average[vb] if va == j else 0.0
        elif groups[vb] == groups[j]:
            c[cell] = average[va] if vb == j else 0.0
    mu = float(c @ b) + average_offset
    sigma = float(np.sqrt(max(c @ cov @ c, 0.0)))
    q = expit(mu + np.sqrt(2.0) * sigma * nodes)
    first = float(np.sum(hw * q) / np.sqrt(np.pi))
    second = float(np.sum(hw * q**2) / np.sqrt(np.pi))
    mm[j] = first
    mv[j] = max(second - first**2, 0.0)

blas.restore_original_limits()
return (
    [float(x) for x in b],
    [float(x) for x in chol.ravel()],
    phi,
    [None if np.isnan(x) else float(x) for x in mm],
    [None if np.isnan(x) else float(x) for x in mv],
    None if np.isinf(chosen) else chosen,
    [float(x) for x in average],
    total,
    scores_out,
    [bool(x) for x in kept],
    [pair_sds.get(g) for g, _, _ in pair_rows] or None,
    [pair_sds.get(first_id + i) for i in range(len(drift_dims))]
    if drift_ids or (kept_drift_sds is not None and drift_dims) else None,
    form_used[0],
)
$$;
COMMENT ON FUNCTION genome._joint_logistic_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision, integer [], integer [], double precision, double precision,
    integer [], integer [], text, double precision [], double precision []
) IS
'Internal (docs/learning.md#joint-learner): Bayesian logistic regression of per-ad successes out of trials (weighted per ad) on an intercept per objective and one-hot element values (entries p_ad_index/p_param_index; or, with those empty, p_ad_values: per ad and element dimension the 1-based place of its value among the value parameters, which follow the intercepts, 0 for none, and p_cells: per pair-cell parameter, in order after the values, the places of its two values, each ad then also carrying the cell of every two of its values), Gaussian prior (p_prior_mean, p_prior_sd), MAP by Newton with step halving; overdispersion per ad in the form p_dispersion_form (docs/learning.md#overdispersion): williams (the default; Williams'' extra-binomial model, each ad''s variance n p (1 - p) (1 + (n - 1) rho)), logit_normal (each ad''s log-odds scattering by sigma2, variance n p (1 - p) (1 + n p (1 - p) sigma2)) or auto (per fit the form with the smaller sum of log factors, the higher extended quasi-likelihood), the share from Pearson chi-square = residual degrees of freedom, the fit repeated with each ad''s weight divided by its factor, floored at p_min_dispersion; the dispersion returned is the factor by which the ads'' binomial information shrank (Pearson chi-square per degree of freedom when all ads have equal trials and the form is williams) and dispersion_form the form used (NULL: no overdispersion); any other form is an error. With p_ages (days per ad) each weight is halved every half-life: the one of p_half_lives (Infinity: no decay) with the best prequential log-likelihood of the most recent ads (each window''s level refitted; p_holdout_folds windows of p_holdout_days; the longest within one standard error of the best, docs/learning.md#half-life), p_fallback_half_life when fewer than two windows have enough ads. Returns the MAP, the lower Cholesky factor of the Laplace covariance (row-major), the dispersion, per element value (NULL for intercepts) the mean and variance of its marginal success rate (the weighted average ad with this value in its dimension), the half-life used (NULL: none), the average design (per parameter the weighted share of ads carrying it), the sum of the weights, and per candidate of p_half_lives its summed prequential log-likelihood (NULL when the data did not choose). With p_pair_groups (rows: a pair group, its two dimensions'' groups; docs/learning.md#interactions) each pair group''s shared prior sd is fitted by MacKay''s fixed point (screened alone on the additive fit, then jointly), groups below p_pair_min_sd dropped: the outputs cover the kept parameters only, kept_parameters flags them among the inputs and pair_sd gives each pair group''s sd. With p_drift_days and p_ages (docs/learning.md#drift) the effects walk back in time in steps at the ages p_drift_days, twice, four times that, ... (up to the oldest ad): every ad also carries, per step its age has passed, that step''s old-ads level and, per element value of a dimension not in a pair group, the step''s drift cell (prior N(0, s^2), s per dimension shared by the steps, starting at p_drift_prior_sd, fitted and dropped as a pair group''s); the drift cells and the levels are integrated out of the outputs (the covariance''s block of the other parameters), so the posterior is that of the newest ads; drift_sd gives each dimension group''s s in group order (NULL where no old ad carries it). With p_ad_context (per ad and context dimension, rows, the 1-based place of its value in p_context_params, 0 for none) and p_context_params (per place the 1-based parameter of that context value, a group-0 parameter, 0 for none) every ad also carries its audience context''s parameters (docs/learning.md#context): nuisance terms like the intercepts, averaged over the ads in the marginals. With p_offsets (per ad, log-odds) every ad''s log-odds is shifted by its own known amount, how far its delivery fatigued it (docs/learning.md#frequency): the parameters then describe fresh ads, and the marginals add the ads'' weighted mean offset (the brand''s average ad as delivered). With p_kept_sds (per pair group in p_pair_groups'' order, then per drift dimension in group order: the sd an earlier fit chose, NULL for none; docs/learning.md#kept-structure) the groups take those sds instead of fitting them, those at or above p_pair_min_sd are the model''s, and the parameters are fitted once; a length other than the groups'' count or a sd not positive is an error.';


CREATE OR REPLACE FUNCTION genome._frequency_offsets(
    p_ad integer [],
    p_day integer [],
    p_impressions double precision [],
    p_clicks double precision [],
    p_audience double precision [],
    p_prior_sd double precision,
    OUT slope double precision,
    OUT slope_sd double precision,
    OUT log_factors double precision []
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
# How heavily each ad was served (docs/learning.md#frequency), from one fit's delivery rows
# in any order: per row the 1-based ad, its day (any integer count of days), impressions,
# clicks and the ad's audience estimate. In numpy rather than SQL: the running sums per ad
# and the per-ad means are sorts and bincounts here, where in SQL a window over every
# ad-day row cost more than the fit that uses them.
import numpy as np

ad = np.asarray(p_ad, dtype=np.int64) - 1
day = np.asarray(p_day, dtype=np.int64)
n = np.asarray(p_impressions, dtype=float)
c = np.asarray(p_clicks, dtype=float)
audience = np.asarray(p_audience, dtype=float)
if not (len(ad) == len(day) == len(n) == len(c) == len(audience)):
    plpy.error("per-row arrays differ in length")
if len(ad) and (ad.min() < 0 or np.any(n <= 0) or np.any(c < 0) or np.any(c > n) or np.any(~(audience > 0)) or np.any(~np.isfinite(audience))):
    plpy.error("ads are 1-based, 0 <= clicks <= impressions > 0, audiences positive and finite")
if not p_prior_sd > 0:
    plpy.error("prior sd must be positive")
if not len(ad):
    return None, None, None  # no evidence: no slope

# 1. One row per (ad, day), in day order within each ad (an ad mapped to several Meta ads has
# a row of each per day).
order = np.lexsort((day, ad))
ad, day, n, c, audience = ad[order], day[order], n[order], c[order], audience[order]
first = np.ones(len(ad), dtype=bool)
first[1:] = (ad[1:] != ad[:-1]) | (day[1:] != day[:-1])
row = np.cumsum(first) - 1
ad, audience = ad[first], audience[first]
n, c = np.bincount(row, n), np.bincount(row, c)

# 2. Each day's excess frequency: the audience's lifetime frequency at the middle of the day
# under random exposure, F = i / (A (1 - e^(-i/A))), less 1.
start = np.ones(len(ad), dtype=bool)
start[1:] = ad[1:] != ad[:-1]
total = np.cumsum(n)
before = total - n
mid = before - np.maximum.accumulate(np.where(start, before, 0.0)) + n / 2.0
x = mid / audience
e = np.maximum(x / -np.expm1(-x) - 1.0, 0.0)

# 3. The slope lambda of log CTR on excess within ads: per ad-day clicks ~ Poisson(impressions
# x exp(alpha_ad - lambda x excess)). Conditioning on each ad's total clicks removes alpha_ad
# (the creative, whatever it is), leaving each ad's clicks spread over its days in proportion
# to impressions x exp(-lambda x excess): a concave log-likelihood in one parameter,
# maximised by Newton's method with the N(0, sd^2) prior. Hand-written: statsmodels'
# Poisson GLM would carry one dummy per ad (thousands).
precision = 1.0 / float(p_prior_sd) ** 2
m = int(ad.max()) + 1
clicks = np.bincount(ad, c, m)
# (Excess centred: a common factor of an ad's days, which its conditioning divides out.)
centred = e - e.mean()
lam = 0.0
for _ in range(100):
    # Per ad the impression-weighted mean and variance of excess under exp(-lambda x excess).
    u = n * np.exp(-lam * centred)
    z = np.bincount(ad, u, m)
    has = z > 0
    mean = np.divide(np.bincount(ad, u * e, m), z, out=np.zeros(m), where=has)
    second = np.divide(np.bincount(ad, u * e * e, m), z, out=np.zeros(m), where=has)
    grad = float(np.sum(clicks * mean) - np.sum(c * e)) - precision * lam
    info = float(np.sum(clicks * np.maximum(second - mean**2, 0.0))) + precision
    # (A step of at most 1 per unit of frequency: far from the answer the curvature at lambda
    # can be that of a few ads' days, and Newton's method on it overshoots.)
    step = min(max(grad / info, -1.0), 1.0)
    lam += step
    if abs(step) < 1e-12:
        break
# The days' clicks scatter beyond Poisson (a day's shock, the ad's day-to-day swing): the
# interval is widened by their Pearson dispersion against the conditional expectation.
u = n * np.exp(-lam * centred)
expected = clicks[ad] * u / np.bincount(ad, u, m)[ad]
df = len(ad) - int(np.sum(clicks > 0)) - 1
ok = expected > 0
phi = float(np.sum((c[ok] - expected[ok]) ** 2 / expected[ok])) / df if df > 0 else 1.0

# 4. Per ad the log of its impressions' mean fatigue factor under the slope (NULL for an ad
# with no rows).
factor = np.exp(np.clip(-lam * e, -700.0, 700.0))
served = np.bincount(ad, n, m)
logs = np.log(np.bincount(ad, n * factor, m) / np.where(served > 0, served, 1.0))
return (
    lam,
    float(np.sqrt(max(phi, 1.0) / info)),
    [float(v) if s > 0 else None for v, s in zip(logs, served)],
)
$$;
COMMENT ON FUNCTION genome._frequency_offsets(
    integer [], integer [], double precision [], double precision [], double precision [],
    double precision
) IS
'Internal (docs/learning.md#frequency): from one fit''s delivery rows (per row the 1-based ad, its day as an integer, impressions, clicks and the ad''s audience estimate; rows of one ad and day are summed), each ad-day''s excess frequency (the audience''s lifetime frequency at the middle of the day under random exposure, less 1), the slope of log CTR on it within ads (conditional Poisson maximum likelihood, each ad''s own level conditioned away, with a N(0, p_prior_sd^2) prior, by Newton''s method; slope_sd from the curvature, widened by the days'' Pearson dispersion when above 1), and per ad (1 to the largest given) the log of its impressions'' mean fatigue factor exp(-slope x excess), NULL for an ad without rows. All NULL without rows.';


-- The value stage's fit (docs/learning.md#value-stage): the same inputs and outputs as
-- _joint_logistic_fit, so step 3 of _update_scores_joint_learner calls either per stage.
-- Hand-written rather than statsmodels' WLS: the Gaussian prior, the two variance
-- components and the decay weights are the model; the test checks it against WLS.
CREATE OR REPLACE FUNCTION genome._joint_lognormal_fit(
    p_ad_index integer [],
    p_param_index integer [],
    p_values double precision [],
    p_counts double precision [],
    p_weights double precision [],
    p_objective_index integer [],
    p_prior_mean double precision [],
    p_prior_sd double precision [],
    p_groups integer [],
    p_min_dispersion double precision,
    p_ages double precision [] DEFAULT NULL,
    p_half_lives double precision [] DEFAULT NULL,
    p_fallback_half_life double precision DEFAULT 'Infinity',
    p_holdout_days double precision DEFAULT 7,
    p_holdout_folds integer DEFAULT 3,
    p_pair_groups integer [] DEFAULT NULL,
    p_pair_min_sd double precision DEFAULT 0,
    OUT posterior_mean double precision [],
    OUT posterior_cholesky double precision [],
    OUT dispersion double precision,
    OUT marginal_mean double precision [],
    OUT marginal_variance double precision [],
    OUT half_life double precision,
    OUT average_design double precision [],
    OUT effective_ads double precision,
    OUT half_life_scores double precision [],
    OUT kept_parameters boolean [],
    OUT pair_sd double precision []
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
import numpy as np
from scipy.optimize import nnls

# Inputs as _joint_logistic_fit's, with per ad its total order value (p_values) out of its
# purchases (p_counts) in place of successes out of trials.
v = np.asarray(p_values, dtype=float)
c = np.asarray(p_counts, dtype=float)
w = np.asarray(p_weights, dtype=float)
m0 = np.asarray(p_prior_mean, dtype=float)
sd = np.asarray(p_prior_sd, dtype=float)
groups = np.asarray(p_groups, dtype=np.int64)
k = len(m0)
n_ads = len(v)
if not (len(c) == n_ads and len(w) == n_ads and len(p_objective_index) == n_ads):
    plpy.error("per-ad arrays differ in length")
if not (len(sd) == k and len(groups) == k) or len(p_ad_index) != len(p_param_index):
    plpy.error("per-parameter or per-entry arrays differ in length")
if np.any(sd <= 0) or np.any(c <= 0) or np.any(v <= 0) or np.any(w < 0):
    plpy.error("prior sd must be positive, values and counts positive, weights >= 0")

X = np.zeros((n_ads, k))
if n_ads:
    X[np.arange(n_ads), np.asarray(p_objective_index, dtype=np.int64) - 1] = 1.0
    X[np.asarray(p_ad_index, dtype=np.int64) - 1, np.asarray(p_param_index, dtype=np.int64) - 1] = 1.0
precision0 = 1.0 / sd**2
y = np.log(v / c) if n_ads else np.zeros(0)

# 0. The half-life: the one candidate, else the fallback (the value stage's few purchases
# cannot score candidates; docs/learning.md#value-stage). Evidence halves every half-life.
chosen = float(p_fallback_half_life)
if p_ages is None:
    chosen = float("inf")
    wt = w
else:
    age = np.asarray(p_ages, dtype=float)
    if len(age) != n_ads or np.any(np.isnan(age)):
        plpy.error("one age per ad is needed")
    if p_half_lives and len(p_half_lives) == 1:
        chosen = float(p_half_lives[0])
    if not chosen > 0:
        plpy.error("half-lives must be positive")
    wt = w * (1.0 if np.isinf(chosen) else 0.5 ** (np.maximum(age, 0.0) / chosen))


def solve(omega, sigma2):
    # The MAP of the weighted least squares with the Gaussian prior, and its precision.
    hess = (X.T * (omega / sigma2)) @ X + np.diag(precision0)
    b = np.linalg.solve(hess, (X.T * (omega / sigma2)) @ y + precision0 * m0)
    return b, hess


# 1-3. An ad's log order value per purchase varies as sigma2 / purchases (the orders'
# own spread) plus tau2 (creative scatter that more purchases do not average away):
# variance sigma2 (1 / c + r), r = tau2 / sigma2, so the ad counts as c / (1 + c r)
# purchases, Williams' form for the extra-binomial rates (docs/learning.md#overdispersion).
# The two components come from the residuals: each squared residual's expectation
# (1 - leverage) (sigma2 / c + tau2) fitted by least squares, each row divided by that
# expectation at the previous estimates (a squared residual's sd is proportional to its
# expectation, so heavy ads' small residuals are not drowned by light ads' large ones),
# refitted until they settle. As in Williams' model, the creative share enters only when
# the data ask for it: tau2 > 0 needs the heavy ads noisier than the order spread explains
# (an F test at 5%); otherwise, and whenever the purchase counts are too alike to tell the
# two apart, all the variance is the orders' spread.
# Without enough ads to estimate them (fewer than the parameters' effective number plus
# two) the posterior is the prior's.
r = 0.0
sigma2 = 1.0
has = wt > 0
estimated = n_ads > 0 and has.sum() >= 2
if estimated:
    for _ in range(20):
        omega = wt * c / (1.0 + c * r)
        b, hess = solve(omega, sigma2)
        info = (X.T * (omega / sigma2)) @ X
        edf = float(np.trace(np.linalg.solve(hess, info)))
        if float(np.sum(has)) - edf < 2.0:
            estimated = False
            r = 0.0
            break
        res2 = (y - X @ b) ** 2
        lev = np.clip(np.einsum("ij,jk,ik->i", X, np.linalg.inv(hess), X) * omega / sigma2, 0.0, 0.99)
        A = np.column_stack([(1.0 - lev) / c, 1.0 - lev])[has]
        # The creative share's test, under the orders'-spread-only model (each squared
        # residual's sd proportional to (1 - leverage) / c): does a share tau2 cut the
        # squared residuals' weighted error by more than one parameter does by chance
        # (F with 1 and n - 2 degrees of freedom at 5%)?
        null_scale = np.sqrt(wt[has]) / A[:, 0]
        a0, b0 = A[:, 0] * null_scale, res2[has] * null_scale
        sse0 = float(np.sum((b0 - (a0 @ b0) / (a0 @ a0) * a0) ** 2))
        coef, sse1 = nnls(A * null_scale[:, None], b0)
        sse1 = float(sse1) ** 2
        dof = int(has.sum()) - 2
        supported = dof > 0 and coef[1] > 0 and (sse0 - sse1) / max(sse1 / dof, 1e-300) > 3.8415
        if supported:
            scale = np.sqrt(wt[has]) / np.maximum(A @ np.array([sigma2, sigma2 * r]), 1e-300)
            (s2_new, tau2_new), _ = nnls(A * scale[:, None], res2[has] * scale)
        else:
            s2_new, tau2_new = float(a0 @ b0 / (a0 @ a0)), 0.0
        s2_new = max(s2_new, 1e-6)
        r_new = tau2_new / s2_new
        done = abs(s2_new - sigma2) <= 1e-9 * sigma2 and abs(r_new - r) <= 1e-9 * max(r, 1e-12)
        sigma2, r = s2_new, r_new
        if done:
            break
if estimated:
    omega = wt * c / (1.0 + c * r)
    b, hess = solve(omega, sigma2)
else:
    b, hess = m0.copy(), np.diag(precision0)

cov = np.linalg.inv(hess)
cov = (cov + cov.T) / 2
chol = np.linalg.cholesky(cov)
# How much the creative scatter shrank the purchases' information (1: none).
phi = float(np.sum(wt * c) / max(np.sum(wt * c / (1.0 + c * r)), 1e-300)) if np.sum(wt * c) > 0 else 1.0

# 4. Each element value's marginal order value per purchase at the brand's average ad:
# lognormal mean and variance.
intercepts = groups == 0
total = float(wt.sum())
average = (X.T @ wt) / total if total > 0 else intercepts / max(intercepts.sum(), 1)
mm = np.full(k, np.nan)
mv = np.full(k, np.nan)
for j in np.flatnonzero(~intercepts):
    d = average.copy()
    d[groups == groups[j]] = 0.0
    d[j] = 1.0
    mu = float(d @ b)
    s2 = float(max(d @ cov @ d, 0.0))
    mm[j] = float(np.exp(mu + s2 / 2))
    mv[j] = float((np.exp(s2) - 1.0) * np.exp(2 * mu + s2))

return (
    [float(x) for x in b],
    [float(x) for x in chol.ravel()],
    max(phi, float(p_min_dispersion), 1.0),
    [None if np.isnan(x) else float(x) for x in mm],
    [None if np.isnan(x) else float(x) for x in mv],
    None if np.isinf(chosen) else chosen,
    [float(x) for x in average],
    total,
    None,
    [True] * k,
    None,
)
$$;
COMMENT ON FUNCTION genome._joint_lognormal_fit(
    integer [], integer [], double precision [], double precision [], double precision [],
    integer [], double precision [], double precision [], integer [], double precision,
    double precision [], double precision [], double precision, double precision, integer,
    integer [], double precision
) IS
'Internal (docs/learning.md#value-stage): the value stage of the joint learner, with _joint_logistic_fit''s inputs and outputs: the log of each ad''s order value per purchase (p_values / p_counts) regressed on an intercept per objective and one-hot element values (entries p_ad_index/p_param_index), Gaussian prior (p_prior_mean, p_prior_sd); each ad''s variance sigma2 (1 / purchases + r), the order spread sigma2 and the creative share r from the residuals (non-negative least squares on the squared residuals, leverage-corrected, refitted until they settle); the posterior is the prior when the ads are fewer than the effective parameters plus two. Weights halve every half-life: the one of p_half_lives when it has one element, else p_fallback_half_life (p_ages NULL: no decay; the holdout arguments are unused). Returns the MAP, the lower Cholesky factor of the covariance (row-major), the dispersion (the factor by which the creative share shrank the purchases'' information), per element value (NULL for intercepts) the mean and variance of its lognormal order value per purchase at the weighted average ad with this value in its dimension, the half-life used (NULL: none), the average design, the sum of the weights, NULL half-life scores, every parameter kept and no pair sd (the pair arguments are unused).';


-- The candidate half-lives the fit chooses from (docs/learning.md#half-life).
CREATE OR REPLACE FUNCTION genome._learner_half_life_candidates()
RETURNS double precision []
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v_value jsonb := genome._setting('learner_half_life_candidates');
    v_out double precision [];
BEGIN
    -- A null element is "no decay": an infinite half-life.
    SELECT array_agg(
        CASE WHEN jsonb_typeof(e.x) = 'null' THEN 'Infinity'::double precision
            ELSE (e.x #>> '{}')::double precision END
        ORDER BY e.i
    )
    INTO v_out
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v_value) = 'array' THEN v_value END)
        WITH ORDINALITY AS e (x, i)
    WHERE jsonb_typeof(e.x) IN ('null', 'number');
    IF v_out IS NULL OR cardinality(v_out) <> jsonb_array_length(v_value)
        OR 0 >= ANY (v_out) THEN
        RAISE EXCEPTION 'setting learner_half_life_candidates must be a non-empty array of '
            'positive numbers of days (null: no decay)'
            USING ERRCODE = 'GN090';
    END IF;
    RETURN v_out;
END
$$;
COMMENT ON FUNCTION genome._learner_half_life_candidates() IS
'Internal (docs/learning.md#half-life): the setting learner_half_life_candidates as days, a null element as Infinity (no decay). GN090 when it is not a non-empty array of positive numbers and nulls.';


-- The reward metric whose maturation a stage's successes wait for (docs/learning.md#joint-learner).
-- No SET clause, so the planner inlines it into the joins that call it once per ad and stage
-- (built-ins only; tests/test_schema.py INLINED).
CREATE OR REPLACE FUNCTION genome._learner_stage_metric(p_success_metric text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE p_success_metric
        WHEN 'clicks' THEN 'ctr'
        WHEN 'purchases' THEN 'conversion_rate'
        WHEN 'purchase_value' THEN 'roas'
    END;
$$;
COMMENT ON FUNCTION genome._learner_stage_metric(text) IS
'Internal (docs/learning.md#joint-learner): the genome.reward_metrics metric whose maturation_days a joint-learner stage with this success metric waits for: clicks -> ctr, purchases -> conversion_rate, purchase_value -> roas.';

-- The fit's design (docs/learning.md#interactions): per ad the places of its element values
-- and, for a rate stage with pair terms, the cells of every two of them that some ad
-- carries (the fit's parameters). Computed on one (brand, stage)'s aggregated arrays in
-- numpy: expanded in SQL, every ad's ten pairs of tags cost two self-joins of its jsonb and
-- a sort of the ads' (ad, parameter) rows (~3 s of a 10,000-ad brand's daily update).
CREATE OR REPLACE FUNCTION genome._joint_design(
    p_tags text [],
    p_value_dims integer [],
    p_values text [],
    p_first integer,
    p_cell_a integer [],
    p_cell_b integer [],
    p_entries boolean,
    OUT ad_index integer [],
    OUT param_index integer [],
    OUT ad_values integer [],
    OUT cells integer [],
    OUT cell_values integer []
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
import numpy as np

# p_tags: per ad (rows, in ad order) its value of each element dimension (columns, in the
# dimensions' order; NULL: none); p_value_dims/p_values: the registry's element values in
# parameter order, each value's dimension (1-based column) and name; p_first: the parameter
# index of the first value (after the intercepts); p_cell_a/p_cell_b: every possible pair
# cell in parameter order, its two values (1-based places in p_values), the first of the
# earlier dimension. Returns the cells some ad carries (1-based places in p_cell_a, in
# order) and their values' places (rows of two); with p_entries the fit's entries (1-based
# ad and parameter: the values, then the carried cells numbered after all values, sorted by
# ad and parameter), else per ad and dimension the place of its value (0: none), from which
# genome._joint_logistic_fit builds them itself (p_ad_values, p_cells).
dims = np.asarray(p_value_dims, dtype=np.int64)
n_values = len(dims)
if len(p_values) != n_values or len(p_cell_a or []) != len(p_cell_b or []):
    plpy.error("per-value or per-cell arrays differ in length")
tags = p_tags or []
n_ads = len(tags)
n_dims = len(tags[0]) if n_ads else 0
# Each ad's value of each dimension as its 1-based place among the values, 0 when it has
# none or one the registry does not know.
code = np.zeros((n_ads, n_dims), dtype=np.int64)
for j in range(n_dims):
    lookup = {v: i + 1 for i, (d, v) in enumerate(zip(dims, p_values)) if d == j + 1}
    code[:, j] = [lookup.get(row[j], 0) for row in tags]
carried = np.zeros(0, dtype=np.int64)
ad_cells = []
if p_cell_a and n_ads:
    a = np.asarray(p_cell_a, dtype=np.int64) - 1
    b = np.asarray(p_cell_b, dtype=np.int64) - 1
    # The cell of two values, looked up by both places.
    cell_of = np.full((n_values, n_values), -1, dtype=np.int64)
    cell_of[a, b] = np.arange(len(a))
    for j in range(n_dims):
        for l in range(j + 1, n_dims):
            ok = np.flatnonzero((code[:, j] > 0) & (code[:, l] > 0))
            c = cell_of[code[ok, j] - 1, code[ok, l] - 1]
            ad_cells.append((ok[c >= 0], c[c >= 0]))
    if ad_cells:
        carried = np.unique(np.concatenate([c for _, c in ad_cells]))
    cell_values = np.stack([a[carried], b[carried]], axis=1) + 1
else:
    cell_values = np.zeros((0, 2), dtype=np.int64)
if not p_entries:
    return (None, None, code.tolist(), (carried + 1).tolist(), cell_values.tolist())
rows, cols = np.nonzero(code > 0)
ads, params = [rows], [code[rows, cols] - 1 + int(p_first)]
# A carried cell's parameter: after every value, in the cells' order.
number = np.full(len(p_cell_a or []), -1, dtype=np.int64)
number[carried] = np.arange(len(carried))
for ad, c in ad_cells:
    ads.append(ad)
    params.append(number[c] + int(p_first) + n_values)
ad = np.concatenate(ads)
par = np.concatenate(params)
order = np.lexsort((par, ad))
return ((ad[order] + 1).tolist(), par[order].tolist(), None, (carried + 1).tolist(), cell_values.tolist())
$$;
COMMENT ON FUNCTION genome._joint_design(text [], integer [], text [], integer, integer [], integer [], boolean) IS
'Internal (docs/learning.md#interactions): the design of one joint-learner fit from its ads'' element values (p_tags: per ad, per element dimension in order, its value; unknown or missing values carry nothing) and the registry''s element values in parameter order (p_value_dims: each value''s dimension''s place, p_values: its name; p_first: the first value''s parameter index). With p_cell_a/p_cell_b (every possible pair cell in parameter order, as the places of its two values) an ad also carries the cell of every two of its values: cells returns the cells some ad carries (places in p_cell_a, in order, numbered after the values) and cell_values their values'' places (rows of two). With p_entries, ad_index and param_index are the fit''s entries (1-based, sorted by ad then parameter); else ad_values gives per ad and dimension its value''s place (0: none), the form genome._joint_logistic_fit takes as p_ad_values with p_cells.';

-- Step of update_scores (docs/learning.md#joint-learner): refit every brand with matured
-- per-ad evidence, one fit per funnel stage of its objectives, and replace its brand-level
-- posterior with the product of the stages' marginals.
-- One function on purpose: its numbered steps hand each other temporary tables
-- (_joint_ads, _joint_params, _joint_fits) that live for the transaction; split into
-- functions, the steps would share those tables by name only.
DROP FUNCTION IF EXISTS genome._update_scores_joint_learner(timestamptz, integer);
CREATE OR REPLACE FUNCTION genome._update_scores_joint_learner(
    p_now timestamptz, p_version integer, p_brands uuid [] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
-- Called on its own too: the fits' arrays over many brands pass jit_above_cost (as in update_scores).
SET jit = off
-- Sorting a 10,000-ad brand's (ad, stage) rows by ad spilled to disk at the default 4 MB.
SET work_mem = '64MB'
AS $$
DECLARE
    v_half_life double precision := genome._setting_num('learner_half_life_days');
    v_candidates double precision [] := genome._learner_half_life_candidates();
    v_refresh_days double precision := genome._setting_num('learner_half_life_refresh_days');
    v_structure_days double precision := genome._setting_num('learner_structure_refresh_days');
    v_structure_growth double precision := genome._setting_num('learner_structure_refresh_growth');
    v_holdout_days double precision := genome._setting_num('learner_holdout_days');
    v_holdout_folds integer := genome._setting_int('learner_holdout_folds');
    v_prior_sd double precision := genome._setting_num('learner_prior_sd');
    v_value_prior_sd double precision := genome._setting_num('learner_value_prior_sd');
    v_intercept_sd double precision := genome._setting_num('learner_intercept_prior_sd');
    v_min_dispersion double precision := genome._setting_num('learner_min_dispersion');
    v_dispersion_form text;
    v_context text;
    v_frequency text;
    v_imported_weight double precision := genome._setting_num('imported_ad_weight');
    v_first_maturation integer := (SELECT min(m.maturation_days) FROM genome.reward_metrics AS m);
    v_pairs boolean := genome._setting_text('learner_interactions') = 'pairs';
    v_pair_prior_sd double precision := genome._setting_num('learner_pair_prior_sd');
    v_pair_min_sd double precision := genome._setting_num('learner_pair_min_sd');
    -- null: no drift terms (docs/learning.md#drift).
    v_drift_days double precision := nullif(genome._setting('learner_drift_days'), 'null')::text::double precision;
    v_drift_prior_sd double precision := genome._setting_num('learner_drift_prior_sd');
    v_frequency_prior_sd double precision := genome._setting_num('learner_frequency_prior_sd');
    -- The context dimensions the rate stages adjust for (docs/learning.md#context) and every
    -- value of them as its parameter's name, context:<dimension>=<value>: an ad's audience is
    -- its values' places in this list; none with learner_context 'ignore'.
    v_ctx_dims text [];
    v_ctx_names text [];
    -- The registry's element dimensions (with values) in order, its element values in
    -- parameter order (each value's dimension's place and name) and every possible pair
    -- cell in parameter order (its two values' places): genome._joint_design's inputs.
    v_dims text [];
    v_value_dims integer [];
    v_values text [];
    v_cell_a integer [];
    v_cell_b integer [];
    v_brands integer;
BEGIN
    IF genome._setting_text('learner') <> 'joint_logistic' THEN
        RETURN 0;
    END IF;
    v_context := genome._setting_choice('learner_context', ARRAY['adjust', 'ignore']);
    -- The steps' ages double from it (docs/learning.md#drift): zero or less has none.
    IF NOT (v_drift_days > 0 AND v_drift_days < 'Infinity') THEN
        RAISE EXCEPTION 'setting learner_drift_days must be a positive number of days or null, got %',
            genome._setting('learner_drift_days')
            USING ERRCODE = 'GN090';
    END IF;
    -- How long and over how much growth a structure is kept (docs/learning.md#kept-structure;
    -- 0 keeps none).
    IF NOT (v_structure_days >= 0 AND v_structure_days < 'Infinity'
            AND v_structure_growth >= 0 AND v_structure_growth < 'Infinity') THEN
        RAISE EXCEPTION 'setting learner_structure_refresh_days and learner_structure_refresh_growth must be finite numbers >= 0, got % and %',
            v_structure_days, v_structure_growth
            USING ERRCODE = 'GN090';
    END IF;
    v_frequency := genome._setting_choice('learner_frequency', ARRAY['adjust', 'ignore']);
    IF NOT (v_frequency_prior_sd > 0 AND v_frequency_prior_sd < 'Infinity') THEN
        RAISE EXCEPTION 'setting learner_frequency_prior_sd must be a positive number, got %',
            genome._setting('learner_frequency_prior_sd')
            USING ERRCODE = 'GN090';
    END IF;
    v_dispersion_form := genome._setting_choice('learner_dispersion_form', ARRAY['auto', 'williams', 'logit_normal']);
    SELECT
        coalesce(array_agg(DISTINCT v.dimension ORDER BY v.dimension), '{}'),
        coalesce(array_agg('context:' || v.dimension || '=' || v.value ORDER BY 'context:' || v.dimension || '=' || v.value), '{}')
    INTO v_ctx_dims, v_ctx_names
    FROM genome.element_values AS v
    INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'context'
    WHERE v_context = 'adjust';
    SELECT array_agg(DISTINCT v.dimension ORDER BY v.dimension) INTO v_dims
    FROM genome.element_values AS v
    INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'element';
    SELECT
        array_agg(array_position(v_dims, v.dimension) ORDER BY v.dimension, v.dimension || '=' || v.value),
        array_agg(v.value ORDER BY v.dimension, v.dimension || '=' || v.value)
    INTO v_value_dims, v_values
    FROM genome.element_values AS v
    WHERE v.dimension = ANY (v_dims);
    -- A pair cell's place: its pair of dimensions, then its name (the parameters' order).
    SELECT array_agg(a.i ORDER BY a.dimension, b.dimension, a.name || '&' || b.name),
        array_agg(b.i ORDER BY a.dimension, b.dimension, a.name || '&' || b.name)
    INTO v_cell_a, v_cell_b
    FROM (
        SELECT u.i, v_dims[u.d] AS dimension, v_dims[u.d] || '=' || u.value AS name
        FROM unnest(v_value_dims, v_values) WITH ORDINALITY AS u (d, value, i)
    ) AS a
    INNER JOIN (
        SELECT u.i, v_dims[u.d] AS dimension, v_dims[u.d] || '=' || u.value AS name
        FROM unnest(v_value_dims, v_values) WITH ORDINALITY AS u (d, value, i)
    ) AS b ON a.dimension < b.dimension
    WHERE v_pairs;

    -- 1. Every matured ad's evidence for each stage of its objective
    -- (genome.learner_objective_evidence), weighted by imported_ad_weight, and its age in
    -- days (at the middle of its delivery): the fit halves its weight every half-life it
    -- chooses (docs/learning.md#half-life). A stage reads an ad once the stage's own metric
    -- has matured (genome._learner_stage_metric): a reward row exists from its first matured
    -- component, and purchases counted before their window closes would make the newest ads
    -- look worse (docs/learning.md#joint-learner). The value stage reads an ad's order value
    -- out of its purchases (docs/learning.md#value-stage), and only ads with some value.
    CREATE TEMP TABLE _joint_ads ON COMMIT DROP AS
    SELECT
        cer.brand_id,
        loe.stage,
        loe.success_metric = 'purchase_value' AS value_stage,
        -- A stage of clicks per impression, whose evidence the frequency adjusts
        -- (docs/learning.md#frequency).
        loe.success_metric = 'clicks' AND loe.trials_metric = 'impressions' AS click_stage,
        cer.generated_ad_id,
        cer.reward_objective AS objective,
        cer.tags,
        CASE WHEN loe.success_metric = 'purchase_value' THEN ev.successes
            ELSE least(ev.successes, ev.trials)
        END::double precision AS successes,
        ev.trials::double precision AS trials,
        -- A rate stage's ad: per context dimension the place of its value in v_ctx_names
        -- (0: none or unknown); NULL without context dimensions and at the value stage.
        CASE WHEN loe.success_metric <> 'purchase_value' THEN cer.ctx END AS ctx,
        CASE WHEN cer.is_imported THEN v_imported_weight ELSE 1.0 END AS weight,
        greatest(
            (p_now::date - cer.first_date) - (cer.last_date - cer.first_date) / 2.0, 0
        )::double precision AS age,
        row_number() OVER (PARTITION BY cer.brand_id, loe.stage ORDER BY cer.id)::integer AS ad_idx
    FROM (
        -- Each ad's value of each element dimension, in v_dims' order (NULL: none), once per
        -- ad rather than once per stage (OFFSET 0: computed here, not after the join).
        SELECT
            c.id, c.generated_ad_id, c.brand_id, c.reward_objective, c.is_imported, c.first_date, c.last_date,
            c.total_impressions, c.total_clicks, c.total_purchases, c.total_purchase_value,
            ARRAY(
                SELECT c.element_tags ->> u.d FROM unnest(v_dims) WITH ORDINALITY AS u (d, i) ORDER BY u.i
            ) AS tags,
            CASE WHEN cardinality(v_ctx_dims) > 0 THEN ARRAY(
                SELECT coalesce(array_position(v_ctx_names, 'context:' || u.d || '=' || (c.element_tags ->> u.d)), 0)
                FROM unnest(v_ctx_dims) WITH ORDINALITY AS u (d, i) ORDER BY u.i
            ) END AS ctx
        FROM genome.creative_element_rewards AS c
        -- The brands to refit (NULL: all; docs/learning.md#incremental-update).
        WHERE c.matured_at <= p_now AND (p_brands IS NULL OR c.brand_id = ANY (p_brands))
        OFFSET 0
    ) AS cer
    INNER JOIN genome.learner_objective_evidence AS loe ON loe.reward_objective = cer.reward_objective
    CROSS JOIN LATERAL (
        SELECT
            CASE loe.success_metric
                WHEN 'clicks' THEN cer.total_clicks
                WHEN 'purchases' THEN cer.total_purchases
                ELSE cer.total_purchase_value
            END AS successes,
            CASE loe.trials_metric
                WHEN 'impressions' THEN cer.total_impressions
                WHEN 'clicks' THEN cer.total_clicks
                ELSE cer.total_purchases
            END AS trials
    ) AS ev
    INNER JOIN genome.reward_metrics AS rm ON rm.metric = genome._learner_stage_metric(loe.success_metric)
    WHERE ev.trials > 0
      AND (loe.success_metric <> 'purchase_value' OR ev.successes > 0)
      -- (A stage whose metric matures first matured with the row itself.)
      AND (rm.maturation_days <= v_first_maturation OR p_now::date - cer.first_date >= rm.maturation_days);
    -- Statistics for the joins below (a temporary table has none until analysed).
    ANALYZE _joint_ads;

    -- 1a. How heavily each ad was served (docs/learning.md#frequency). With learner_frequency
    -- 'adjust', per (brand, click stage): each ad's delivered days up to p_now with its
    -- audience as the fatigue assessment estimated it (genome.ad_fatigue; an ad without one is
    -- taken as fresh), from which genome._frequency_offsets fits the slope of log CTR on the
    -- excess frequency within ads and gives each ad its offset.
    CREATE TEMP TABLE _joint_frequency ON COMMIT DROP AS
    SELECT g.brand_id, g.stage, fo.slope, fo.slope_sd, fo.log_factors
    FROM (
        SELECT
            a.brand_id, a.stage, array_agg(a.ad_idx) AS ads,
            array_agg(p.date - DATE '2000-01-01') AS days,
            array_agg(p.impressions::double precision) AS imps,
            array_agg(least(coalesce(p.link_clicks, 0), p.impressions)::double precision) AS clicks,
            array_agg(af.est_audience) AS audiences
        FROM _joint_ads AS a
        INNER JOIN genome.ad_fatigue AS af ON af.generated_ad_id = a.generated_ad_id AND af.est_audience > 0
        INNER JOIN public.meta_ad_mapping AS m ON m.generated_ad_id = a.generated_ad_id
        -- Only the mapped ad's brand's insights (docs/security.md#tenant-data).
        INNER JOIN public.meta_ads_performance AS p ON p.meta_ad_id = m.meta_ad_id AND p.brand_id = m.brand_id
        WHERE v_frequency = 'adjust' AND a.click_stage
          AND p.date <= p_now::date AND p.impressions > 0
        GROUP BY a.brand_id, a.stage
    ) AS g
    CROSS JOIN LATERAL genome._frequency_offsets(
        g.ads, g.days, g.imps, g.clicks, g.audiences, v_frequency_prior_sd
    ) AS fo;

    -- 1b. Every fit's design from its ads' values aggregated per (brand, stage): with
    -- learner_interactions 'pairs', a rate stage's cells of every two values that some ad
    -- carries (docs/learning.md#interactions), and per ad its values' places, from which the
    -- fit builds its entries (the value stage's fit takes them as entries).
    CREATE TEMP TABLE _joint_designs ON COMMIT DROP AS
    SELECT a.brand_id, a.stage, jd.ad_index, jd.param_index, jd.ad_values, jd.cells, jd.cell_values
    FROM (
        SELECT
            x.brand_id,
            x.stage,
            bool_or(x.value_stage) AS value_stage,
            count(DISTINCT x.objective)::integer AS objectives,
            array_agg(x.tags ORDER BY x.ad_idx) FILTER (WHERE cardinality(x.tags) > 0) AS tags
        FROM _joint_ads AS x
        GROUP BY x.brand_id, x.stage
    ) AS a
    CROSS JOIN LATERAL genome._joint_design(
        a.tags, v_value_dims, v_values, a.objectives + 1,
        CASE WHEN NOT a.value_stage THEN v_cell_a END, CASE WHEN NOT a.value_stage THEN v_cell_b END,
        -- (the rate stages' fit builds its entries from the ads' values itself)
        a.value_stage
    ) AS jd;

    -- 2. Every fit's parameters: one intercept per objective, then every element value;
    -- prior means from the category prior where one exists (docs/learning.md#category-priors);
    -- with learner_interactions 'pairs', a rate stage's cells of every pair of dimensions
    -- that some ad carries, one group (one prior sd) per pair of dimensions
    -- (docs/learning.md#interactions).
    -- The value stage's intercept is the log of the objective's value per purchase and its
    -- values' priors are centred (category priors are rates; docs/learning.md#value-stage).
    -- All (brand, stage) fits at once: one pass over the ads, not one per brand.
    CREATE TEMP TABLE _joint_params ON COMMIT DROP AS
    WITH fits AS (
        SELECT DISTINCT a.brand_id, a.stage, a.value_stage FROM _joint_ads AS a
    ),

    objectives AS (
        SELECT
            a.brand_id,
            a.stage,
            a.objective,
            bool_or(a.value_stage) AS value_stage,
            sum(a.weight * a.successes) AS s,
            sum(a.weight * a.trials) AS n
        FROM _joint_ads AS a
        GROUP BY a.brand_id, a.stage, a.objective
    ),

    value_priors AS (
        SELECT
            f.brand_id,
            f.stage,
            v.dimension,
            v.value,
            dense_rank() OVER (PARTITION BY f.brand_id, f.stage ORDER BY v.dimension)::integer AS grp,
            CASE WHEN f.value_stage THEN 0.0 ELSE ln(pm.m / (1.0 - pm.m)) END AS prior_logit,
            CASE WHEN f.value_stage THEN v_value_prior_sd ELSE v_prior_sd END AS prior_sd,
            f.value_stage
        FROM fits AS f
        CROSS JOIN genome.element_values AS v
        INNER JOIN genome.element_dimensions AS d ON d.dimension = v.dimension AND d.kind = 'element'
        LEFT JOIN genome.brand_priors AS bp
            ON bp.brand_id = f.brand_id AND bp.element_dimension = v.dimension
            AND bp.element_value = v.value
        CROSS JOIN LATERAL (
            SELECT least(0.99, greatest(0.01,
                coalesce(bp.prior_alpha, 1.0) / (coalesce(bp.prior_alpha, 1.0) + coalesce(bp.prior_beta, 1.0))
            )) AS m
        ) AS pm
    ),

    -- A rate stage's context values some ad of the fit carries, of the context dimensions
    -- in which its ads differ (a value, or none, that not every ad has): an audience every
    -- ad shares says nothing the intercept does not (docs/learning.md#context).
    -- (The fits' distinct audiences first, a hash aggregate over the ads, then per fit,
    -- context dimension and place.)
    context_places AS (
        SELECT DISTINCT x.brand_id, x.stage, c.dim, c.place
        FROM (SELECT DISTINCT a.brand_id, a.stage, a.ctx FROM _joint_ads AS a WHERE a.ctx IS NOT NULL) AS x
        CROSS JOIN LATERAL unnest(x.ctx) WITH ORDINALITY AS c (place, dim)
    ),

    context_values AS (
        SELECT cp.brand_id, cp.stage, v_ctx_names[cp.place] AS name
        FROM context_places AS cp
        WHERE cp.place > 0 AND EXISTS (
            SELECT 1 FROM context_places AS o
            WHERE o.brand_id = cp.brand_id AND o.stage = cp.stage AND o.dim = cp.dim
              AND o.place <> cp.place
        )
    ),

    pair_cells AS (
        SELECT
            jd.brand_id,
            jd.stage,
            v_dims[v_value_dims[v_cell_a[c.i]]] AS dimension,
            v_values[v_cell_a[c.i]] AS value,
            v_dims[v_value_dims[v_cell_b[c.i]]] AS dimension_b,
            v_values[v_cell_b[c.i]] AS value_b,
            -- (a value's group is its dimension's place in v_dims, as in value_priors)
            v_value_dims[v_cell_a[c.i]] AS grp_a,
            v_value_dims[v_cell_b[c.i]] AS grp_b
        FROM _joint_designs AS jd
        CROSS JOIN unnest(jd.cells) AS c (i)
    ),

    all_params AS (
        SELECT
            o.brand_id,
            o.stage,
            'objective:' || o.objective AS name,
            o.objective,
            NULL::text AS dimension,
            NULL::text AS value,
            NULL::text AS dimension_b,
            NULL::text AS value_b,
            0 AS grp,
            CASE
                WHEN o.value_stage THEN ln(o.s / o.n)
                ELSE ln(greatest(o.s + 0.5, 0.5) / greatest(o.n - o.s + 0.5, 0.5))
            END AS prior_mean,
            v_intercept_sd AS prior_sd,
            NULL::integer AS grp_a,
            NULL::integer AS grp_b
        FROM objectives AS o
        UNION ALL
        -- A context value: a nuisance parameter of group 0 beside the intercepts (its name
        -- sorts before theirs), centred, with the values' prior sd.
        SELECT
            cv.brand_id,
            cv.stage,
            cv.name,
            NULL,
            NULL,
            NULL,
            NULL,
            NULL,
            0,
            0.0,
            v_prior_sd,
            NULL,
            NULL
        FROM context_values AS cv
        UNION ALL
        -- A value's prior mean: its category prior's log-odds relative to its dimension's mean.
        SELECT
            vp.brand_id,
            vp.stage,
            vp.dimension || '=' || vp.value,
            NULL,
            vp.dimension,
            vp.value,
            NULL,
            NULL,
            vp.grp,
            vp.prior_logit - avg(vp.prior_logit) OVER (PARTITION BY vp.brand_id, vp.stage, vp.dimension),
            vp.prior_sd,
            NULL,
            NULL
        FROM value_priors AS vp
        UNION ALL
        -- A pair cell of two registered values (prior mean 0: the interaction is what the
        -- two values' own effects do not explain), after every single value.
        SELECT
            pc.brand_id,
            pc.stage,
            pc.dimension || '=' || pc.value || '&' || pc.dimension_b || '=' || pc.value_b,
            NULL,
            pc.dimension,
            pc.value,
            pc.dimension_b,
            pc.value_b,
            cardinality(v_dims) + dense_rank() OVER (
                PARTITION BY pc.brand_id, pc.stage ORDER BY pc.dimension, pc.dimension_b
            )::integer,
            0.0,
            v_pair_prior_sd,
            pc.grp_a,
            pc.grp_b
        FROM pair_cells AS pc
    )

    SELECT
        ap.*,
        row_number() OVER (PARTITION BY ap.brand_id, ap.stage ORDER BY ap.grp, ap.name)::integer AS param_idx
    FROM all_params AS ap;
    ANALYZE _joint_params;

    -- 3. Every fit on its arrays, aggregated per (brand, stage) in one statement (the
    -- design entries from 1b); the PL/Python fit runs once per (brand, stage) on them.
    CREATE TEMP TABLE _joint_fits ON COMMIT DROP AS
    WITH per_ad AS (
        SELECT
            a.brand_id,
            a.stage,
            array_agg(a.successes ORDER BY a.ad_idx) AS successes,
            array_agg(a.trials ORDER BY a.ad_idx) AS trials,
            array_agg(a.weight ORDER BY a.ad_idx) AS weights,
            array_agg(a.age ORDER BY a.ad_idx) AS ages,
            array_agg(p.param_idx ORDER BY a.ad_idx) AS objective_index,
            array_agg(a.ctx ORDER BY a.ad_idx) FILTER (WHERE a.ctx IS NOT NULL) AS ctx,
            -- (NULL: no ad of the fit has a frequency offset)
            CASE WHEN max(fq.slope) IS NOT NULL THEN
                array_agg(coalesce(fq.log_factors[a.ad_idx], 0.0) ORDER BY a.ad_idx)
            END AS offsets,
            max(fq.slope) AS frequency_slope,
            max(fq.slope_sd) AS frequency_slope_sd,
            -- The ads that carried an offset and theirs, kept for genome.attribute
            -- (docs/attribution.md#fatigue).
            array_agg(a.generated_ad_id ORDER BY a.ad_idx)
                FILTER (WHERE fq.log_factors[a.ad_idx] <> 0) AS frequency_ad_ids,
            array_agg(fq.log_factors[a.ad_idx] ORDER BY a.ad_idx)
                FILTER (WHERE fq.log_factors[a.ad_idx] <> 0) AS frequency_log_factors,
            bool_or(a.value_stage) AS value_stage,
            count(*)::integer AS n_ads
        FROM _joint_ads AS a
        INNER JOIN _joint_params AS p
            ON p.brand_id = a.brand_id AND p.stage = a.stage AND p.objective = a.objective
        LEFT JOIN _joint_frequency AS fq ON fq.brand_id = a.brand_id AND fq.stage = a.stage
        GROUP BY a.brand_id, a.stage
    ),

    per_param AS (
        SELECT
            p.brand_id,
            p.stage,
            array_agg(p.name ORDER BY p.param_idx) AS names,
            array_agg(p.prior_mean ORDER BY p.param_idx) AS prior_mean,
            array_agg(p.prior_sd ORDER BY p.param_idx) AS prior_sd,
            array_agg(p.grp ORDER BY p.param_idx) AS grp,
            -- The dimensions in their groups' order (the drift sds', docs/learning.md#drift).
            array_agg(DISTINCT p.dimension ORDER BY p.dimension) FILTER (
                WHERE p.dimension IS NOT NULL AND p.dimension_b IS NULL
            ) AS dimension_names,
            -- Per pair of dimensions (group, first dimension's group, second's) and its name.
            (
                SELECT array_agg(ARRAY[g.grp, g.grp_a, g.grp_b] ORDER BY g.grp)
                FROM (
                    SELECT DISTINCT q.grp, q.grp_a, q.grp_b FROM _joint_params AS q
                    WHERE q.brand_id = p.brand_id AND q.stage = p.stage AND q.dimension_b IS NOT NULL
                ) AS g
            ) AS pair_groups,
            (
                SELECT array_agg(g.name ORDER BY g.grp)
                FROM (
                    SELECT DISTINCT q.grp, q.dimension || '&' || q.dimension_b AS name FROM _joint_params AS q
                    WHERE q.brand_id = p.brand_id AND q.stage = p.stage AND q.dimension_b IS NOT NULL
                ) AS g
            ) AS pair_names,
            -- Per context value (v_ctx_names' places) its parameter in this fit, 0: none.
            ARRAY(
                SELECT coalesce(q.param_idx, 0)
                FROM unnest(v_ctx_names) WITH ORDINALITY AS u (name, i)
                LEFT JOIN _joint_params AS q ON q.brand_id = p.brand_id AND q.stage = p.stage AND q.name = u.name
                ORDER BY u.i
            ) AS context_params
        FROM _joint_params AS p
        GROUP BY p.brand_id, p.stage
    )

    SELECT
        pa.brand_id,
        pa.stage,
        b.organization_id,
        pp.names,
        pp.dimension_names,
        pp.pair_names,
        pa.n_ads,
        pa.value_stage,
        pa.frequency_slope,
        pa.frequency_slope_sd,
        pa.frequency_ad_ids,
        pa.frequency_log_factors,
        f.*,
        -- When the data chose the half-life: kept from the last choice, now when this fit
        -- scored the candidates, NULL when it fell back (docs/learning.md#half-life).
        CASE
            WHEN kept.half_life IS NOT NULL THEN kept.chosen_at
            WHEN f.half_life_scores IS NOT NULL THEN p_now
        END AS half_life_chosen_at,
        -- When the data chose the pair and drift sds: kept from the last choice, now when this
        -- fit chose them, NULL when it had none to choose (docs/learning.md#kept-structure).
        CASE
            WHEN ks.sds IS NOT NULL THEN ks.chosen_at
            WHEN f.pair_sd IS NOT NULL OR f.drift_sd IS NOT NULL THEN p_now
        END AS structure_chosen_at,
        CASE
            WHEN ks.sds IS NOT NULL THEN ks.chosen_ads
            WHEN f.pair_sd IS NOT NULL OR f.drift_sd IS NOT NULL THEN pa.n_ads
        END AS structure_chosen_ads
    FROM per_ad AS pa
    INNER JOIN per_param AS pp ON pp.brand_id = pa.brand_id AND pp.stage = pa.stage
    LEFT JOIN _joint_designs AS e ON e.brand_id = pa.brand_id AND e.stage = pa.stage
    INNER JOIN public.brands AS b ON b.id = pa.brand_id
    -- A half-life the data chose within learner_half_life_refresh_days, still a candidate,
    -- is kept: the fit runs once instead of once per candidate and window.
    LEFT JOIN LATERAL (
        SELECT coalesce(lp.half_life_days, 'Infinity') AS half_life, lp.half_life_chosen_at AS chosen_at
        FROM genome.learner_posteriors AS lp
        WHERE lp.brand_id = pa.brand_id AND lp.stage = pa.stage
          AND lp.half_life_chosen_at <= p_now
          AND lp.half_life_chosen_at > p_now - make_interval(secs => v_refresh_days * 86400)
          AND coalesce(lp.half_life_days, 'Infinity') = ANY (v_candidates)
    ) AS kept ON true
    -- Pair and drift sds the data chose within learner_structure_refresh_days, on at most
    -- learner_structure_refresh_growth fewer ads, for the same pairs of dimensions and drift
    -- dimensions, are kept: the fit runs once instead of once per fixed-point step
    -- (docs/learning.md#kept-structure). The value stage has neither.
    LEFT JOIN LATERAL (
        SELECT
            lp.structure_chosen_at AS chosen_at,
            lp.structure_chosen_ads AS chosen_ads,
            coalesce(lp.pair_sd, '{}') || CASE WHEN v_drift_days IS NOT NULL THEN lp.drift_sd END AS sds
        FROM genome.learner_posteriors AS lp
        WHERE lp.brand_id = pa.brand_id AND lp.stage = pa.stage AND NOT pa.value_stage
          AND lp.structure_chosen_at <= p_now
          AND lp.structure_chosen_at > p_now - make_interval(secs => v_structure_days * 86400)
          AND pa.n_ads <= lp.structure_chosen_ads * (1.0 + v_structure_growth)
          AND lp.pair_groups IS NOT DISTINCT FROM pp.pair_names
          AND (v_drift_days IS NULL OR lp.drift_dimensions = pp.dimension_names)
    ) AS ks ON true
    -- A rate stage's logistic fit, or the value stage's lognormal one (same arguments and
    -- outputs; the one-time filter runs only the stage's own).
    CROSS JOIN LATERAL (
        SELECT lf.*
        FROM genome._joint_logistic_fit(
            '{}', '{}', pa.successes, pa.trials,
            pa.weights, pa.objective_index, pp.prior_mean, pp.prior_sd, pp.grp, v_min_dispersion,
            pa.ages, CASE WHEN kept.half_life IS NULL THEN v_candidates ELSE ARRAY[kept.half_life] END,
            v_half_life, v_holdout_days, v_holdout_folds, pp.pair_groups, v_pair_min_sd,
            coalesce(e.ad_values, '{}'), e.cell_values, v_drift_days, v_drift_prior_sd,
            pa.ctx, pp.context_params, v_dispersion_form, pa.offsets, ks.sds
        ) AS lf
        WHERE NOT pa.value_stage
        UNION ALL
        SELECT vf.*, NULL, NULL
        FROM genome._joint_lognormal_fit(
            coalesce(e.ad_index, '{}'), coalesce(e.param_index, '{}'), pa.successes, pa.trials,
            pa.weights, pa.objective_index, pp.prior_mean, pp.prior_sd, pp.grp, v_min_dispersion,
            pa.ages, CASE WHEN kept.half_life IS NULL THEN v_candidates ELSE ARRAY[kept.half_life] END,
            v_half_life, v_holdout_days, v_holdout_folds
        ) AS vf
        WHERE pa.value_stage
    ) AS f;

    -- 4. Each stage's joint posterior (the parameters the fit kept: a pair of dimensions whose
    -- sd fell below learner_pair_min_sd is dropped), and every pair of dimensions' sd.
    INSERT INTO genome.learner_posteriors AS lp (
        brand_id, stage, organization_id, genome_version, parameters, posterior_mean,
        posterior_cholesky, average_design, dispersion, dispersion_form, n_ads, effective_ads,
        half_life_days, half_life_chosen_at, value_stage, pair_groups, pair_sd, drift_dimensions,
        drift_sd, frequency_slope, frequency_slope_sd, frequency_ad_ids, frequency_log_factors,
        structure_chosen_at, structure_chosen_ads, updated_at
    )
    SELECT
        jf.brand_id, jf.stage, jf.organization_id, p_version,
        ARRAY(SELECT u.name FROM unnest(jf.names, jf.kept_parameters) AS u (name, kept) WHERE u.kept),
        jf.posterior_mean,
        jf.posterior_cholesky, jf.average_design, jf.dispersion, jf.dispersion_form, jf.n_ads,
        jf.effective_ads, jf.half_life, jf.half_life_chosen_at, jf.value_stage, jf.pair_names, jf.pair_sd,
        CASE WHEN jf.drift_sd IS NOT NULL THEN jf.dimension_names END, jf.drift_sd,
        jf.frequency_slope, jf.frequency_slope_sd, jf.frequency_ad_ids, jf.frequency_log_factors,
        jf.structure_chosen_at, jf.structure_chosen_ads, p_now
    FROM _joint_fits AS jf
    ON CONFLICT (brand_id, stage) DO UPDATE
    SET organization_id = excluded.organization_id,
        genome_version = excluded.genome_version,
        parameters = excluded.parameters,
        posterior_mean = excluded.posterior_mean,
        posterior_cholesky = excluded.posterior_cholesky,
        average_design = excluded.average_design,
        dispersion = excluded.dispersion,
        dispersion_form = excluded.dispersion_form,
        n_ads = excluded.n_ads,
        effective_ads = excluded.effective_ads,
        half_life_days = excluded.half_life_days,
        half_life_chosen_at = excluded.half_life_chosen_at,
        value_stage = excluded.value_stage,
        pair_groups = excluded.pair_groups,
        pair_sd = excluded.pair_sd,
        drift_dimensions = excluded.drift_dimensions,
        drift_sd = excluded.drift_sd,
        frequency_slope = excluded.frequency_slope,
        frequency_slope_sd = excluded.frequency_slope_sd,
        frequency_ad_ids = excluded.frequency_ad_ids,
        frequency_log_factors = excluded.frequency_log_factors,
        structure_chosen_at = excluded.structure_chosen_at,
        structure_chosen_ads = excluded.structure_chosen_ads,
        updated_at = excluded.updated_at;

    -- 5. Each value's marginal rate at each rate stage (the value stage enters the win
    -- probabilities only: a value per purchase is no rate a Beta can hold).
    CREATE TEMP TABLE _joint_marginals ON COMMIT DROP AS
    SELECT
        jf.brand_id,
        jf.stage,
        p.dimension,
        p.value,
        jf.marginal_mean[p.param_idx] AS m,
        jf.marginal_variance[p.param_idx] AS v
    FROM _joint_fits AS jf
    INNER JOIN _joint_params AS p ON p.brand_id = jf.brand_id AND p.stage = jf.stage
    -- (the single values come before any pair cell, so their places are the fit's)
    WHERE p.grp > 0 AND p.dimension_b IS NULL AND NOT jf.value_stage;

    -- 6. Per brand and value, the product of its stages' rates (independent posteriors: the
    -- mean is the product of the means, the second moment the product of the second
    -- moments), moment-matched to a Beta with the same mean and variance: the posterior
    -- selection samples from (docs/learning.md#joint-learner).
    UPDATE genome.creative_element_scores AS s
    SET posterior_alpha = mm.m * mm.n,
        posterior_beta = (1.0 - mm.m) * mm.n
    FROM (
        SELECT
            pr.brand_id,
            pr.dimension,
            pr.value,
            pr.m,
            greatest(pr.m * (1.0 - pr.m) / greatest(pr.second - pr.m * pr.m, 1e-300) - 1.0, 0.5) AS n
        FROM (
            SELECT
                jm.brand_id,
                jm.dimension,
                jm.value,
                exp(sum(ln(jm.m))) AS m,
                exp(sum(ln(jm.v + jm.m * jm.m))) AS second
            FROM _joint_marginals AS jm
            GROUP BY jm.brand_id, jm.dimension, jm.value
        ) AS pr
    ) AS mm
    WHERE s.brand_id = mm.brand_id AND s.product_id IS NULL AND s.genome_version = p_version
      AND s.element_dimension = mm.dimension AND s.element_value = mm.value;

    -- Product rows would mix one-bit counts into the model's scale: the brand's rows serve.
    -- A stage no longer fitted (the brand changed objectives) leaves no stale posterior.
    DELETE FROM genome.creative_element_scores AS s
    WHERE s.product_id IS NOT NULL AND s.brand_id IN (SELECT jm.brand_id FROM _joint_marginals AS jm);
    DELETE FROM genome.learner_posteriors AS lp
    WHERE lp.genome_version <> p_version
      AND lp.brand_id IN (SELECT jm.brand_id FROM _joint_marginals AS jm);

    v_brands := (SELECT count(DISTINCT jm.brand_id) FROM _joint_marginals AS jm);
    DROP TABLE _joint_ads;
    DROP TABLE _joint_designs;
    DROP TABLE _joint_params;
    DROP TABLE _joint_fits;
    DROP TABLE _joint_marginals;
    RETURN v_brands;
END
$$;
COMMENT ON FUNCTION genome._update_scores_joint_learner(timestamptz, integer, uuid []) IS
'Internal step of update_scores, a no-op unless the setting learner is joint_logistic (docs/learning.md#joint-learner): for every brand of p_brands (NULL: all) with matured evidence and every funnel stage of its ads'' objectives (genome.learner_objective_evidence), per ad its successes out of trials, weighted by imported_ad_weight and 0.5^(age / half-life), the half-life chosen per fit among learner_half_life_candidates by prequential log-likelihood (learner_holdout_days, learner_holdout_folds; learner_half_life_days when the data are too few; a choice kept for learner_half_life_refresh_days; docs/learning.md#half-life); genome._joint_logistic_fit (the ads'' overdispersion in the form learner_dispersion_form, recorded in dispersion_form; docs/learning.md#overdispersion) over an intercept per objective, with learner_context adjust a term per context value (awareness_stage, audience_type) of the context dimensions in which the fit''s ads differ (centred, prior sd learner_prior_sd, averaged over the ads in the marginals; docs/learning.md#context), and every element value (prior sd learner_prior_sd, means from the category prior), and with learner_interactions pairs the cells of every two dimensions some ad carries (one fitted prior sd per pair of dimensions, starting at learner_pair_prior_sd; pairs below learner_pair_min_sd dropped; docs/learning.md#interactions) and with learner_drift_days drift terms (docs/learning.md#drift), the pair and drift sds the data chose kept for learner_structure_refresh_days while the fit''s ads grow by at most learner_structure_refresh_growth (structure_chosen_at, structure_chosen_ads; docs/learning.md#kept-structure), or for the value stage (purchase_value out of purchases, docs/learning.md#value-stage) genome._joint_lognormal_fit of the log order value per purchase (prior sd learner_value_prior_sd, centred); each stage''s posterior into genome.learner_posteriors (value_stage marks the value stage; pair_groups and pair_sd every pair of dimensions'' sd); per element value the product of its rate stages'' marginal rates moment-matched into posterior_alpha/posterior_beta of its brand-level row of version p_version; the brand''s product-level rows removed. Returns the number of brands fitted. GN090: the setting learner_context, learner_dispersion_form or learner_drift_days (a positive number of days or null) outside its values, or learner_structure_refresh_days or learner_structure_refresh_growth not a finite number >= 0.';


-- Selection draws each dimension with its values' win probabilities
-- (docs/learning.md#joint-learner). Computed from the moment-matched Betas, the values of a
-- dimension would look independent, although they share the intercept's and the other
-- dimensions' uncertainty: their differences are far surer than each marginal, and
-- independent Betas would explore far more than Thompson sampling from the joint posterior.
-- These win probabilities are drawn from the joint posterior itself.
-- Before the value stage (one signature, not two overloads).
DROP FUNCTION IF EXISTS genome._joint_win_probabilities(
    integer [], text [], double precision [], double precision [], double precision [], text [],
    double precision [], integer, bigint
);
-- Before blocks of dimensions joined by pair terms (docs/learning.md#interactions).
DROP FUNCTION IF EXISTS genome._joint_win_probabilities(
    integer [], text [], double precision [], double precision [], double precision [], text [],
    double precision [], integer, bigint, boolean []
);
-- Before the draws' scale (docs/learning.md#win-probabilities).
DROP FUNCTION IF EXISTS genome._joint_win_probabilities(
    integer [], text [], double precision [], double precision [], double precision [], text [],
    double precision [], integer, bigint, boolean [], integer [], text [], double precision []
);

CREATE OR REPLACE FUNCTION genome._joint_win_probabilities(
    p_stage_sizes integer [],
    p_parameters text [],
    p_means double precision [],
    p_cholesky double precision [],
    p_average double precision [],
    p_value_names text [],
    p_value_means double precision [],
    p_draws integer,
    p_seed bigint,
    p_value_stages boolean [] DEFAULT NULL,
    p_pair_stages integer [] DEFAULT NULL,
    p_pair_groups text [] DEFAULT NULL,
    p_pair_sd double precision [] DEFAULT NULL,
    p_draw_scale double precision DEFAULT 1.0
)
RETURNS TABLE (value_name text, win_probability double precision, given text [])
LANGUAGE plpython3u
IMMUTABLE
AS $$
import itertools
import numpy as np
from threadpoolctl import threadpool_limits

# One BLAS thread for the call, as in genome._joint_logistic_fit (docs/learning.md#performance).
blas = threadpool_limits(limits=1, user_api="blas")
sizes = [int(k) for k in p_stage_sizes]
total = sum(sizes)
if (len(p_parameters) != total or len(p_means) != total or len(p_average) != total
        or len(p_cholesky) != sum(k * k for k in sizes)):
    plpy.error("stage arrays do not match the stage sizes")
if len(p_value_names) != len(p_value_means) or p_draws < 1:
    plpy.error("one mean per value name and at least one draw are needed")
value_stages = [bool(x) for x in (p_value_stages or [False] * len(sizes))]
if len(value_stages) != len(sizes):
    plpy.error("one value-stage flag per stage is needed")
pair_stages = [int(x) for x in (p_pair_stages or [])]
pair_groups = list(p_pair_groups or [])
pair_sd = list(p_pair_sd or [])
if not (len(pair_stages) == len(pair_groups) == len(pair_sd)) or any(
        not 1 <= x <= len(sizes) for x in pair_stages):
    plpy.error("one stage and one sd per pair of dimensions are needed")
# Tempered draws (docs/learning.md#win-probabilities): every draw's deviation from the MAP,
# and the sd of the pair cells no ad carries, times the scale (1: the posterior's own).
draw_scale = float(1.0 if p_draw_scale is None else p_draw_scale)
if not draw_scale > 0:
    plpy.error("the draws' scale must be positive")

names = list(p_value_names)
rng = np.random.default_rng(int(p_seed))
# Per draw and value: its success rate, the product of its rate stages' rates (the rate of
# a conversion brand's value; stages are independent), and apart the value stage's order
# value per purchase (docs/learning.md#value-stage).
rate = np.ones((int(p_draws), len(names)))
# (Only a brand with a value stage needs the second array.)
value = np.ones((int(p_draws), len(names))) if any(value_stages) else None
stages = []
start = chol_start = 0
for k, is_value in zip(sizes, value_stages):
    params = p_parameters[start:start + k]
    mean = np.asarray(p_means[start:start + k], dtype=float)
    chol = np.asarray(p_cholesky[chol_start:chol_start + k * k], dtype=float).reshape(k, k)
    average = np.asarray(p_average[start:start + k], dtype=float)
    stages.append((params, mean, chol, average, is_value))
    # The standard normals of this stage's draws (the draws are mean + scale z @ chol.T).
    z = rng.standard_normal((int(p_draws), k))
    if draw_scale != 1.0:
        z *= draw_scale
    # (A pair cell, <a>=<x>&<b>=<y>, belongs to no single dimension: it stays at the
    # average ad's; its dimensions are drawn as a block below. So do the intercepts and the
    # audience context, context:<dimension>=<value>: no choice of selection.)
    dims = np.array([
        "" if p.startswith(("objective:", "context:")) or "=" not in p
        else "&" if "&" in p else p.split("=", 1)[0]
        for p in params
    ])
    position = {p: j for j, p in enumerate(params) if dims[j]}
    # Per value the brand's average ad with the value in its dimension's place: one matrix
    # product gives every value's log-odds in every draw, (mean + z @ chol.T) @ design.
    design = np.zeros((k, len(names)))
    for i, name in enumerate(names):
        j = position.get(name)
        if j is None:
            plpy.error("every value name must be a parameter of every stage")
        design[:, i] = np.where(dims == dims[j], 0.0, average)
        design[j, i] = 1.0
    eta = z @ (chol.T @ design)
    eta += mean @ design
    if is_value:
        # The log of the value per purchase.
        value *= np.exp(eta)
    else:
        # The logistic in place: rate times 1 / (1 + e^-eta); an overflow to infinity is a
        # rate of 0.
        with np.errstate(over="ignore"):
            np.exp(np.negative(eta, out=eta), out=eta)
        eta += 1.0
        rate /= eta
    start += k
    chol_start += k * k

# Causal evidence (docs/learning.md#causal-evidence) moves a value's posterior mean after the
# fit: its draws are scaled to the final mean, keeping their spread and correlations.
scale = np.asarray(p_value_means, dtype=float) / np.maximum(rate.mean(axis=0), 1e-300)
rate *= scale
# What a conversion brand's value earns per impression: purchases times value per purchase.
if value is not None:
    rate *= value

value_dims = [n.split("=", 1)[0] for n in names]
values_of = {}
for i, d in enumerate(value_dims):
    values_of.setdefault(d, []).append(i)

# Blocks (docs/learning.md#interactions): the dimensions joined by pair terms the fits
# kept (a pair of dimensions with at least one cell among a stage's parameters), in
# connected groups. A block's values are drawn together: per draw of every stage's
# posterior, the reward of each combination of its dimensions' values (the average ad
# elsewhere); its first dimension (in code-point order, as selection's tables) by the
# share of draws in which a value is in the best combination, each later one given the
# values before it by the share of draws in which a value is best with them.
kept = {}
for st, g, tau in zip(pair_stages, pair_groups, pair_sd):
    a, b = g.split("&", 1)
    if a not in values_of or b not in values_of or tau is None:
        continue
    params = stages[st - 1][0]
    prefix = [f"{a}={names[i].split('=', 1)[1]}&{b}=" for i in values_of[a]]
    if any(p.startswith(x) for p in params for x in prefix):
        kept.setdefault(st - 1, []).append((a, b, float(tau)))
parent = {}


def root(d):
    while parent.get(d, d) != d:
        d = parent[d]
    return d


for groups in kept.values():
    for a, b, _ in groups:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        parent[root(b)] = root(a)
blocks = {}
for d in parent:
    blocks.setdefault(root(d), set()).add(d)
blocks = [sorted(members) for members in blocks.values() if len(members) > 1]

out = []
in_block = {d for members in blocks for d in members}
for d, idx in values_of.items():
    if d in in_block:
        continue
    wins = np.bincount(np.argmax(rate[:, idx], axis=1), minlength=len(idx)) / float(p_draws)
    out.extend((names[i], float(w), None) for i, w in zip(idx, wins))

grid_rng = np.random.default_rng([int(p_seed) % (2**63), 1])
for members in blocks:
    shape = [len(values_of[d]) for d in members]
    cells = int(np.prod(shape))
    # At most ~2M numbers a block (docs/learning.md#interactions): a demo brand's block of
    # 640 combinations gets 3,125 draws (a share's Monte Carlo error at most 0.9 points, far
    # inside what Thompson selection needs) where 10,000 drew 6.4M a stage, the daily
    # update's largest cost after the fits; blocks up to 200 combinations keep every draw.
    draws = int(max(100, min(int(p_draws), 2_000_000 // cells)))
    # The grid in single precision, each pass over it in place (docs/learning.md#performance):
    # half the memory a pass moves, and its 7 digits tell apart any two combinations a draw
    # could rank differently. The products over the stages start from each combination's
    # causal scaling (the product of its values', the same in every draw).
    scaling = np.ones(tuple(shape))
    for axis, d in enumerate(members):
        view = [1] * len(members)
        view[axis] = shape[axis]
        scaling = scaling * scale[values_of[d]].reshape(view)
    reward = np.empty((draws,) + tuple(shape), dtype=np.float32)
    reward[:] = scaling
    for s_i, (params, mean, chol, average, is_value) in enumerate(stages):
        k = len(params)
        z = grid_rng.standard_normal((draws, k))
        if draw_scale != 1.0:
            z *= draw_scale
        theta = mean + z @ chol.T
        position = {p: j for j, p in enumerate(params)}
        # The average ad without the block: its dimensions' values and cells are the
        # combination's own.
        outside = average.copy()
        value_cols = []
        for d in members:
            value_cols.append([position[names[i]] for i in values_of[d]])
            outside[value_cols[-1]] = 0.0
        pair_cells = []
        for a, b, tau in kept.get(s_i, []):
            if a not in members:
                continue
            ia, ib = members.index(a), members.index(b)
            cell = grid_rng.standard_normal((draws, shape[ia], shape[ib])) * (tau * draw_scale)
            for x, i in enumerate(values_of[a]):
                for y, j in enumerate(values_of[b]):
                    p = position.get(f"{names[i]}&{names[j]}")
                    if p is not None:
                        outside[p] = 0.0
                        cell[:, x, y] = theta[:, p]
            view = [draws] + [1] * len(members)
            view[ia + 1], view[ib + 1] = shape[ia], shape[ib]
            pair_cells.append(cell.reshape(view))
        # The log-odds of every combination, one dimension at a time from the first: each
        # step writes an array the size of the grid so far, the full grid once.
        eta = (theta @ outside)[:, None] + theta[:, value_cols[0]]
        for axis in range(1, len(members)):
            view = [draws] + [1] * axis + [shape[axis]]
            last = axis == len(members) - 1
            eta = np.add(eta[..., None], theta[:, value_cols[axis]].reshape(view),
                         dtype=np.float32 if last else None)
        eta = eta.astype(np.float32, copy=False)
        for cell in pair_cells:
            eta += cell
        with np.errstate(over="ignore"):
            if is_value:
                reward *= np.exp(eta, out=eta)
            else:
                np.exp(np.negative(eta, out=eta), out=eta)
                eta += 1.0
                reward /= eta
    flat = reward.reshape(draws, -1)
    best = np.array(np.unravel_index(np.argmax(flat, axis=1), shape))
    for axis, d in enumerate(members):
        wins = np.bincount(best[axis], minlength=shape[axis]) / float(draws)
        out.extend((names[i], float(w), None) for i, w in zip(values_of[d], wins))
    # Each later dimension given the ones before it: the best of the combinations that
    # agree with the given values. The maxima over the trailing dimensions, the argmax over
    # the last and the counts per given values a slice at a time: numpy reduces a short last
    # axis of a large array element by element (50 ms for 10,000 draws of 640 combinations,
    # against 6 ms).
    heads = [reward]
    for axis in range(len(members) - 1, 1, -1):
        top = heads[-1][..., 0].copy()
        for i in range(1, shape[axis]):
            np.maximum(top, heads[-1][..., i], out=top)
        heads.append(top)
    for axis in range(1, len(members)):
        head = heads[len(members) - 1 - axis]
        # (the first of equal maxima, as np.argmax)
        choice = np.zeros(head.shape[:-1], dtype=np.intp)
        top = head[..., 0].copy()
        for i in range(1, shape[axis]):
            choice[head[..., i] > top] = i
            np.maximum(top, head[..., i], out=top)
        counts = np.stack([np.sum(choice == x, axis=0) for x in range(shape[axis])], axis=-1) / float(draws)
        for given in itertools.product(*[range(n) for n in shape[:axis]]):
            label = [names[values_of[members[g]][x]] for g, x in enumerate(given)]
            out.extend(
                (names[i], float(w), label) for i, w in zip(values_of[members[axis]], counts[given])
            )
blas.restore_original_limits()
return out
$$;
COMMENT ON FUNCTION genome._joint_win_probabilities(
    integer [], text [], double precision [], double precision [], double precision [], text [],
    double precision [], integer, bigint, boolean [], integer [], text [], double precision [],
    double precision
) IS
'Internal (docs/learning.md#joint-learner): per element value named <dimension>=<value> in p_value_names, its probability of having the highest success rate of its dimension under p_draws joint draws (seed p_seed) of a brand''s stage posteriors, each draw''s deviation from the MAP times p_draw_scale (1: the posterior''s own; docs/learning.md#win-probabilities) (concatenated per stage, sizes p_stage_sizes: parameter names, MAP, row-major lower Cholesky factor, average design), the rate of the brand''s average ad carrying the value, multiplied over the rate stages, each value''s draws scaled to its mean in p_value_means, then multiplied by its order value per purchase from the stages flagged in p_value_stages (NULL: none; docs/learning.md#value-stage), so a conversion brand''s values compete on revenue per impression. Dimensions joined by the pair terms a stage kept (p_pair_stages, p_pair_groups <a>&<b>, p_pair_sd: the sd of the cells no ad carries, times p_draw_scale; docs/learning.md#interactions) are drawn as blocks: a value''s probability of being in the best combination of its block, and (rows with given set) for each later dimension of the block in code-point order its probability of being best given the values of the dimensions before it.';

-- Step of update_scores after _update_scores_win_probabilities: the brand-level rows of the
-- brands the joint learner fitted at this version get win probabilities drawn from the joint
-- posterior instead of from independent Betas.
CREATE OR REPLACE FUNCTION genome._update_scores_joint_win_probabilities(p_version integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_draws integer := genome._setting_num('win_probability_draws')::integer;
    v_draw_scale double precision := genome._setting_num('learner_draw_scale');
    v_rows integer;
BEGIN
    IF NOT v_draw_scale > 0 THEN
        RAISE EXCEPTION 'setting learner_draw_scale must be positive, got %', v_draw_scale
            USING ERRCODE = 'GN090';
    END IF;
    DELETE FROM genome.learner_conditional_wins AS c
    WHERE c.brand_id IN (SELECT lp.brand_id FROM genome.learner_posteriors AS lp WHERE lp.genome_version = p_version);
    WITH fitted AS (
        SELECT DISTINCT lp.brand_id
        FROM genome.learner_posteriors AS lp
        WHERE lp.genome_version = p_version
    ),

    brand_values AS (
        -- The brand's values that every stage's model has a parameter for.
        SELECT
            s.id,
            s.brand_id,
            s.element_dimension || '=' || s.element_value AS name,
            s.posterior_alpha / (s.posterior_alpha + s.posterior_beta) AS mean
        FROM genome.creative_element_scores AS s
        INNER JOIN fitted AS f ON f.brand_id = s.brand_id
        WHERE s.genome_version = p_version AND s.product_id IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM genome.learner_posteriors AS lp
              WHERE lp.brand_id = s.brand_id
                AND NOT (s.element_dimension || '=' || s.element_value) = ANY (lp.parameters)
          )
    ),

    -- MATERIALIZED: once per brand, not once per value row the UPDATE joins.
    wins AS MATERIALIZED (
        SELECT f.brand_id, w.value_name, w.win_probability, w.given
        FROM fitted AS f
        -- The stages' parameter names, MAPs and average designs, concatenated stage by stage.
        CROSS JOIN LATERAL (
            SELECT
                array_agg(u.name ORDER BY lp.stage, u.o) AS names,
                array_agg(u.mean ORDER BY lp.stage, u.o) AS means,
                array_agg(u.average ORDER BY lp.stage, u.o) AS averages
            FROM genome.learner_posteriors AS lp
            CROSS JOIN LATERAL unnest(lp.parameters, lp.posterior_mean, lp.average_design)
                WITH ORDINALITY AS u (name, mean, average, o)
            WHERE lp.brand_id = f.brand_id
        ) AS st
        -- Every stage's pairs of dimensions (by the stage's place) and their sds.
        CROSS JOIN LATERAL (
            SELECT
                array_agg(st.place ORDER BY st.place, u.o) AS stages,
                array_agg(u.grp ORDER BY st.place, u.o) AS groups,
                array_agg(u.sd ORDER BY st.place, u.o) AS sds
            FROM (
                SELECT lp.*, row_number() OVER (ORDER BY lp.stage)::integer AS place
                FROM genome.learner_posteriors AS lp
                WHERE lp.brand_id = f.brand_id
            ) AS st
            CROSS JOIN LATERAL unnest(st.pair_groups, st.pair_sd) WITH ORDINALITY AS u (grp, sd, o)
        ) AS pg
        CROSS JOIN LATERAL genome._joint_win_probabilities(
            ARRAY(
                SELECT cardinality(lp.parameters) FROM genome.learner_posteriors AS lp
                WHERE lp.brand_id = f.brand_id ORDER BY lp.stage
            ),
            st.names,
            st.means,
            ARRAY(
                SELECT u.x FROM genome.learner_posteriors AS lp
                CROSS JOIN LATERAL unnest(lp.posterior_cholesky) WITH ORDINALITY AS u (x, o)
                WHERE lp.brand_id = f.brand_id ORDER BY lp.stage, u.o
            ),
            st.averages,
            ARRAY(SELECT bv.name FROM brand_values AS bv WHERE bv.brand_id = f.brand_id ORDER BY bv.name),
            ARRAY(SELECT bv.mean FROM brand_values AS bv WHERE bv.brand_id = f.brand_id ORDER BY bv.name),
            v_draws,
            -- Seeded by version and brand: the same version gives the same numbers.
            p_version::bigint * 4294967296 + hashtext(f.brand_id::text)::bigint + 2147483648,
            ARRAY(
                SELECT lp.value_stage FROM genome.learner_posteriors AS lp
                WHERE lp.brand_id = f.brand_id ORDER BY lp.stage
            ),
            pg.stages, pg.groups, pg.sds,
            v_draw_scale
        ) AS w
    ),

    marginals AS (
        UPDATE genome.creative_element_scores AS s
        SET win_probability = least(1.0, greatest(0.0, w.win_probability))
        FROM brand_values AS bv
        INNER JOIN wins AS w ON w.brand_id = bv.brand_id AND w.value_name = bv.name AND w.given IS NULL
        WHERE s.id = bv.id
        RETURNING s.id
    ),

    -- A block's later dimensions given the values before them (docs/learning.md#interactions),
    -- in place of the brand's earlier rows (removed above).
    conditionals AS (
        INSERT INTO genome.learner_conditional_wins (
            brand_id, organization_id, genome_version, element_dimension, element_value,
            given_dimensions, given_values, win_probability
        )
        SELECT
            w.brand_id, b.organization_id, p_version,
            split_part(w.value_name, '=', 1),
            substr(w.value_name, strpos(w.value_name, '=') + 1),
            ARRAY(SELECT split_part(g, '=', 1) FROM unnest(w.given) WITH ORDINALITY AS x (g, o) ORDER BY x.o),
            ARRAY(SELECT substr(g, strpos(g, '=') + 1) FROM unnest(w.given) WITH ORDINALITY AS x (g, o) ORDER BY x.o),
            least(1.0, greatest(0.0, w.win_probability))
        FROM wins AS w
        INNER JOIN public.brands AS b ON b.id = w.brand_id
        WHERE w.given IS NOT NULL
        RETURNING 1
    )

    SELECT count(*) INTO v_rows FROM marginals;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION genome._update_scores_joint_win_probabilities(integer) IS
'Internal step of update_scores, after _update_scores_win_probabilities (docs/learning.md#joint-learner): for the brands the joint learner fitted at version p_version, each brand-level value''s win probability drawn from the joint posterior of genome.learner_posteriors (win_probability_draws draws through genome._joint_win_probabilities, seeded by version and brand, their deviations from the MAP times learner_draw_scale: docs/learning.md#win-probabilities), each value''s draws centred on its posterior mean after causal evidence, then multiplied by its order value per purchase where the brand has a value stage (docs/learning.md#value-stage). Returns the number of rows updated. GN090 learner_draw_scale not positive.';
