-- docs/experiments.md#posteriors: Beta-Binomial posteriors of experiment arms, P(best) and expected loss by
-- numerical integration (what Monte Carlo draws converge to), effects against the control, and
-- the sample-ratio-mismatch test, for many experiments at once (arrays aggregated by the
-- caller; numpy on per-group grids).

-- The earlier signature without p_spend (and its shorter result).
DROP FUNCTION IF EXISTS genome._experiment_posteriors(
    integer [], boolean [], double precision [], double precision [], double precision [],
    double precision [], double precision [], double precision [], integer, bigint
);

CREATE OR REPLACE FUNCTION genome._experiment_posteriors(
    p_group integer [],
    p_control boolean [],
    p_successes double precision [],
    p_trials double precision [],
    p_prior_alpha double precision [],
    p_prior_beta double precision [],
    p_impressions double precision [],
    p_planned_share double precision [],
    p_draws integer,
    p_seed bigint DEFAULT NULL,
    p_spend double precision [] DEFAULT NULL
)
RETURNS TABLE (
    idx integer,
    posterior_alpha double precision,
    posterior_beta double precision,
    posterior_mean double precision,
    prob_best double precision,
    expected_loss double precision,
    effect_mean double precision,
    effect_lower double precision,
    effect_upper double precision,
    relative_effect double precision,
    relative_lower double precision,
    relative_upper double precision,
    prob_positive double precision,
    srm_chi2 double precision,
    srm_p_value double precision,
    srm_deviation double precision,
    delivery_p_value double precision,
    delivery_deviation double precision
)
LANGUAGE plpython3u
VOLATILE
SET search_path = genome, public
AS $$
import numpy as np
from scipy import special
from scipy.signal import fftconvolve
from scipy.stats import chi2

if p_group is None or len(p_group) == 0:
    return []
n = len(p_group)
arrays = [p_control, p_successes, p_trials, p_prior_alpha, p_prior_beta, p_impressions, p_planned_share]
if p_spend is not None:
    arrays.append(p_spend)
if any(a is None or len(a) != n for a in arrays):
    plpy.error("experiment arrays must all have the same length", sqlstate="GN030")
if any(v is None for a in [p_group] + arrays for v in a):
    plpy.error("experiment arrays must not contain NULL", sqlstate="GN030")
draws = int(p_draws or 0)
if draws < 100:
    plpy.error("at least 100 Monte Carlo draws are needed, got %s" % p_draws, sqlstate="GN030")

g = np.asarray(p_group, dtype=np.int64)
# Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
size_plan = plpy.prepare(
    "SELECT genome._require_helper_size($1, $2, $3)", ["text", "bigint", "text"]
)
plpy.execute(size_plan, ["experiment arms", n, "helper_max_rows"])
largest_group = int(np.max(np.unique(g, return_counts=True)[1]))
plpy.execute(size_plan, ["Monte Carlo draws times arms", draws * largest_group, "helper_max_samples"])
ctrl = np.asarray(p_control, dtype=bool)
s = np.asarray(p_successes, dtype=float)
t = np.asarray(p_trials, dtype=float)
pa = np.asarray(p_prior_alpha, dtype=float)
pb = np.asarray(p_prior_beta, dtype=float)
imp = np.asarray(p_impressions, dtype=float)
share = np.asarray(p_planned_share, dtype=float)
spend = None if p_spend is None else np.asarray(p_spend, dtype=float)
numbers = np.concatenate([s, t, pa, pb, imp, share] + ([] if spend is None else [spend]))
if not np.all(np.isfinite(numbers)):
    plpy.error("experiment counts must be finite numbers", sqlstate="GN030")
if np.any(s < 0) or np.any(t < 0) or np.any(imp < 0) or np.any(share < 0) or (
    spend is not None and np.any(spend < 0)
):
    plpy.error("experiment counts and shares must not be negative", sqlstate="GN030")
if np.any(s > t):
    plpy.error("successes exceed trials in an experiment arm", sqlstate="GN030")
if np.any(pa <= 0) or np.any(pb <= 0):
    plpy.error("prior alpha and beta must be positive", sqlstate="GN030")

post_a = pa + s
post_b = pb + (t - s)
post_mean = post_a / (post_a + post_b)

# Rows sorted by group, the control first within each group.
order = np.lexsort((np.arange(n), ~ctrl, g))
gs = g[order]
starts = np.r_[0, np.flatnonzero(np.diff(gs)) + 1]
sizes = np.diff(np.r_[starts, n])
controls = np.add.reduceat(ctrl[order].astype(np.int64), starts)
if np.any(controls != 1):
    plpy.error("every experiment group needs exactly one control arm", sqlstate="GN030")

out = {k: np.full(n, np.nan) for k in (
    "prob_best", "loss", "eff", "eff_lo", "eff_hi", "rel", "rel_lo", "rel_hi", "ppos",
    "chi2", "srm_p", "srm_dev", "del_p", "del_dev")}

# docs/experiments.md#posteriors: P(best), expected loss, P(effect > 0) and the effect
# intervals by numerical integration over the arms' Beta densities, the values Monte Carlo
# draws converge to (seconds of draws per thousand experiments became a fraction of that;
# the results no longer depend on p_seed). Hand-written because scipy has no routine for
# the maximum or the difference of independent Betas.
def _grid_stats(post_a, post_b, rows, log_scale):
    """Per group (rows: (G, k) arm indices), a uniform grid in x (or in u = ln x) covering every
    arm's posterior from its 1e-10 to its 1 - 1e-10 quantile, fine enough for 24 points per
    standard deviation of the narrowest arm; each arm's density and CDF on it."""
    a, b = post_a[rows], post_b[rows]
    lo = special.betaincinv(a, b, 1e-10).min(axis=1)
    hi = special.betaincinv(a, b, 1.0 - 1e-10).max(axis=1)
    m = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    if log_scale:
        lo, hi = np.log(np.maximum(lo, 1e-300)), np.log(hi)
        sd = sd / m
    span = hi - lo
    points = int(np.clip(np.max(24.0 * span / sd.min(axis=1)), 512, 16384)) | 1
    t = np.linspace(0.0, 1.0, points)
    v = lo[:, None] + span[:, None] * t  # (G, N)
    h = span / (points - 1)
    x = np.exp(v) if log_scale else v
    x = np.clip(x, 1e-300, 1.0 - 1e-16)
    logpdf = (
        (a[..., None] - 1.0) * np.log(x)[:, None, :]
        + (b[..., None] - 1.0) * np.log1p(-x)[:, None, :]
        - special.betaln(a, b)[..., None]
    )
    if log_scale:
        logpdf = logpdf + v[:, None, :]  # density of u = ln x
    g = np.exp(logpdf)  # (G, k, N)
    # Cumulative trapezoid, normalized to the arm's mass on the grid.
    cum = np.concatenate(
        [np.zeros(g.shape[:2] + (1,)), np.cumsum((g[..., 1:] + g[..., :-1]) / 2.0, axis=2)], axis=2
    )
    mass = cum[..., -1:]
    return x, v, h, g / (mass * h[:, None, None]), cum / mass


def _shift_quantiles(gc, Gt, h, qs):
    """Quantiles of V_t - V_c for independent V_c (density gc) and V_t (CDF Gt) on a common
    uniform grid of step h: P(V_t - V_c <= m h) = sum_j gc(v_j) Gt(v_j + m h) h, a
    cross-correlation (FFT), read off at the quantiles by linear interpolation."""
    p, n = gc.shape
    ext = np.concatenate([np.zeros((p, n)), Gt, np.ones((p, n))], axis=1)
    w = gc * h[:, None]
    w[:, 0] /= 2.0
    w[:, -1] /= 2.0
    cdf = fftconvolve(ext, w[:, ::-1], mode="valid", axes=1)  # shifts -n..n
    cdf = np.maximum.accumulate(np.clip(cdf, 0.0, 1.0), axis=1)
    shifts = np.arange(-n, n + 1) * 1.0
    out = []
    for q in qs:
        i = np.clip(np.argmax(cdf >= q, axis=1), 1, 2 * n)
        rr = np.arange(p)
        c0, c1 = cdf[rr, i - 1], cdf[rr, i]
        frac = np.where(c1 > c0, (q - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
        out.append((shifts[i - 1] + frac) * h)
    return out


def group_stats(post_a, post_b, rows):
    """P(best), expected loss, and for treatments (column 1..) P(effect > 0) and the 95%
    intervals of theta_t - theta_c and theta_t / theta_c - 1, by numerical integration."""
    k = rows.shape[1]
    x, v, h, g, cdf = _grid_stats(post_a, post_b, rows, log_scale=False)
    wts = np.full(x.shape[1], 1.0)
    wts[0] = wts[-1] = 0.5
    wts = wts[None, :] * h[:, None]  # (G, N) trapezoid weights
    # Leave-one-out products of the other arms' CDFs (k is small).
    others = np.ones_like(g)
    for j in range(k):
        for i in range(k):
            if i != j:
                others[:, i, :] *= cdf[:, j, :]
    prob_best = np.einsum("gkn,gn->gk", g * others, wts)
    prob_best = prob_best / prob_best.sum(axis=1, keepdims=True)
    allc = np.prod(cdf, axis=1)
    e_max = x[:, 0] + np.einsum("gn,gn->g", 1.0 - allc, wts)
    mean = post_a[rows] / (post_a[rows] + post_b[rows])
    loss = np.maximum(e_max[:, None] - mean, 0.0)
    res = {"prob_best": prob_best, "loss": loss}
    if k > 1:
        gc = np.repeat(g[:, :1, :], k - 1, axis=1).reshape(-1, x.shape[1])
        Gt = cdf[:, 1:, :].reshape(-1, x.shape[1])
        hh = np.repeat(h, k - 1)
        # P(theta_t > theta_c) = 1 - integral of f_c(x) F_t(x) dx
        res["ppos"] = (1.0 - np.einsum("pn,pn->p", gc * Gt, np.repeat(wts, k - 1, axis=0))).reshape(-1, k - 1)
        lo_e, hi_e = _shift_quantiles(gc, Gt, hh, (0.025, 0.975))
        res["eff_lo"], res["eff_hi"] = lo_e.reshape(-1, k - 1), hi_e.reshape(-1, k - 1)
        _, vl, hl, gl, cdfl = _grid_stats(post_a, post_b, rows, log_scale=True)
        gc = np.repeat(gl[:, :1, :], k - 1, axis=1).reshape(-1, vl.shape[1])
        Gt = cdfl[:, 1:, :].reshape(-1, vl.shape[1])
        lo_r, hi_r = _shift_quantiles(gc, Gt, np.repeat(hl, k - 1), (0.025, 0.975))
        res["rel_lo"], res["rel_hi"] = np.expm1(lo_r).reshape(-1, k - 1), np.expm1(hi_r).reshape(-1, k - 1)
    return res


for k in np.unique(sizes):
    rows = order[starts[sizes == k][:, None] + np.arange(k)]  # (groups, k), control in column 0
    # Chunks of at most 4 million grid values (32 MB per array) at the largest grid.
    chunk = max(1, 4_000_000 // (int(k) * 16384))
    for c in range(0, len(rows), chunk):
        r = rows[c:c + chunk]
        res = group_stats(post_a, post_b, r)
        out["prob_best"][r] = res["prob_best"]
        out["loss"][r] = res["loss"]
        if k > 1:
            treat = r[:, 1:]
            out["eff"][treat] = post_mean[treat] - post_mean[r[:, :1]]
            out["eff_lo"][treat] = res["eff_lo"]
            out["eff_hi"][treat] = res["eff_hi"]
            out["ppos"][treat] = res["ppos"]
            out["rel_lo"][treat] = res["rel_lo"]
            out["rel_hi"][treat] = res["rel_hi"]
            out["rel"][treat] = out["eff"][treat] / post_mean[r[:, :1]]

# Sample-ratio mismatch (docs/experiments.md#srm): the active arms' delivery against their
# planned shares, chi-square (scipy) plus the largest relative share deviation.
active = share[order] > 0
w = np.where(active, share[order], 0.0)
wsum = np.add.reduceat(w, starts)
m = np.add.reduceat(active.astype(np.int64), starts)
grp_of_row = np.repeat(np.arange(len(starts)), sizes)


def mismatch(units):
    """Chi-square p-value and largest |observed share / planned share - 1| per row's group."""
    obs = np.where(active, units, 0.0)
    total = np.add.reduceat(obs, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        planned = w / wsum[grp_of_row]
        expected = total[grp_of_row] * planned
        terms = np.where(active & (expected > 0), (obs - expected) ** 2 / expected, 0.0)
        dev = np.where(active & (planned > 0), np.abs(obs / total[grp_of_row] / planned - 1.0), 0.0)
    stat = np.add.reduceat(terms, starts)
    valid = (total > 0) & (m >= 2)
    p_val = np.where(valid, chi2.sf(stat, np.maximum(m - 1, 1)), np.nan)
    dev_max = np.where(valid, np.maximum.reduceat(dev, starts), np.nan)
    return np.where(valid, stat, np.nan), p_val, dev_max


imp_chi2, imp_p, imp_dev = mismatch(imp[order])
if spend is None:
    # Without spend: the impressions against the planned shares.
    srm_chi2, srm_p, srm_dev = imp_chi2, imp_p, imp_dev
else:
    # Spend in impressions at the group's pooled CPM, so the chi-square counts delivery
    # units and CPM differences between arms cancel; the impressions test becomes the
    # delivery-imbalance report.
    sp = np.where(active, spend[order], 0.0)
    sp_total = np.add.reduceat(sp, starts)
    imp_total = np.add.reduceat(np.where(active, imp[order], 0.0), starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sp_total > 0, imp_total / sp_total, 0.0)
    # A group without spend (insights without it) falls back to its impressions.
    spent = sp_total > 0
    units = np.where(spent[grp_of_row], sp * scale[grp_of_row], imp[order])
    srm_chi2, srm_p, srm_dev = mismatch(units)
    out["del_p"][order] = np.where(spent, imp_p, np.nan)[grp_of_row]
    out["del_dev"][order] = np.where(spent, imp_dev, np.nan)[grp_of_row]
out["chi2"][order] = srm_chi2[grp_of_row]
out["srm_p"][order] = srm_p[grp_of_row]
out["srm_dev"][order] = srm_dev[grp_of_row]

def val(x):
    return None if np.isnan(x) else float(x)


return [
    (i + 1, float(post_a[i]), float(post_b[i]), float(post_mean[i]), val(out["prob_best"][i]),
     val(out["loss"][i]), val(out["eff"][i]), val(out["eff_lo"][i]), val(out["eff_hi"][i]),
     val(out["rel"][i]), val(out["rel_lo"][i]), val(out["rel_hi"][i]), val(out["ppos"][i]),
     val(out["chi2"][i]), val(out["srm_p"][i]), val(out["srm_dev"][i]), val(out["del_p"][i]),
     val(out["del_dev"][i]))
    for i in range(n)
]
$$;
COMMENT ON FUNCTION genome._experiment_posteriors(
    integer [], boolean [], double precision [], double precision [], double precision [],
    double precision [], double precision [], double precision [], integer, bigint,
    double precision []
) IS
'Internal numeric core of experiment analysis, for many experiments in one call (rows grouped by p_group, one p_control row per group). Per arm: Beta(prior_alpha + successes, prior_beta + failures) posterior; by numerical integration over the arms'' Beta densities on a per-group grid (24 points per standard deviation of the narrowest arm, at least 512; the limit of Monte Carlo draws, deterministic: p_seed does not change the result and p_draws is only checked): P(best), expected loss E[max_j theta_j - theta_i]; for treatments, the effect theta_t - theta_c (mean exact, 95% equal-tailed interval, P(effect > 0)) and the relative effect (mean effect / control mean, 95% interval of theta_t / theta_c - 1). Per group, sample-ratio mismatch of the arms with planned_share > 0 against those shares (docs/experiments.md#srm): chi-square statistic, p-value and the largest relative share deviation |observed share / planned share - 1|, NULL without delivery or with fewer than 2 active arms; on p_spend (spend in impressions at the group''s pooled CPM) when given and the group spent, else on the impressions; with p_spend the impressions'' p-value and deviation are the delivery imbalance (delivery_p_value, delivery_deviation, else NULL). idx is the 1-based array position. GN030: arrays of different lengths, NULLs, negative or non-finite counts, successes > trials, non-positive prior, p_draws below 100, or a group without exactly one control; GN031 beyond helper_max_rows arms or helper_max_samples draws times the arms of the largest group.';
