-- The raked (calibrated) off-policy estimate of genome.evaluate_policy
-- (docs/learning.md#off-policy-evaluation).

CREATE OR REPLACE FUNCTION genome._raked_estimate(
    p_y double precision [],
    p_w double precision [],
    p_codes integer [],
    p_sizes integer [],
    p_targets double precision [],
    OUT estimate double precision,
    OUT se double precision,
    OUT effective_sample_size double precision,
    OUT unlogged_mass double precision
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
import numpy as np

# Per ad its metric y and importance weight w; per ad and dimension (row-major, dimensions in
# p_sizes' order) the 1-based place of its value among the dimension's p_sizes values; per
# dimension its values' target probabilities, concatenated.
if not p_y:  # no ad with a positive weight: the whole policy is on values none carries
    return None, None, None, (1.0 if p_targets else None)
y = np.asarray(p_y, dtype=float)
w = np.asarray(p_w, dtype=float)
sizes = [int(k) for k in p_sizes]
n = len(y)
if len(w) != n or len(p_codes) != n * len(sizes) or len(p_targets) != sum(sizes):
    plpy.error(
        "raking arrays: one weight per ad, one value per ad and dimension, one target per value",
        sqlstate="GN030",
    )
targets = np.asarray(p_targets, dtype=float)
if (np.any(~np.isfinite(y)) or np.any(~np.isfinite(w)) or np.any(w < 0)
        or np.any(~np.isfinite(targets)) or np.any(targets < 0)):
    plpy.error(
        "raking arrays: metrics, weights and targets must be finite, weights and targets "
        "non-negative",
        sqlstate="GN030",
    )
codes = np.asarray(p_codes, dtype=np.int64).reshape(n, len(sizes)) - 1
if np.any(codes < 0) or np.any(codes >= np.asarray(sizes)):
    plpy.error("raking arrays: a value's place is outside its dimension", sqlstate="GN030")
# Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
plpy.execute(
    plpy.prepare("SELECT genome._require_helper_size($1, $2, $3)", ["text", "bigint", "text"]),
    ["raked ads", n, "helper_max_rows"],
)
ends = np.cumsum(sizes)
starts = ends - np.asarray(sizes)
# One column per value of each dimension: an ad carries one value a dimension.
X = np.zeros((n, int(ends[-1]) if sizes else 0))
for j, start in enumerate(starts):
    X[np.arange(n), start + codes[:, j]] = 1.0
# The share the policy gives values no ad carries (per dimension, the largest): that much of
# the policy the logged ads say nothing about.
carried = X.sum(axis=0) > 0
unlogged_mass = max(
    (float(np.sum(targets[a:b][~carried[a:b]])) for a, b in zip(starts, ends)), default=0.0
)


def target_shares(design):
    # Each dimension's targets among the values the design's ads carry, rescaled to sum to
    # one (a value no ad carries cannot be matched); None when a dimension keeps no target.
    shares = targets * (design.sum(axis=0) > 0)
    for a, b in zip(starts, ends):
        total = shares[a:b].sum()
        if total <= 0:
            return None
        shares[a:b] /= total
    return shares


RIDGE = 1e-4  # the dual's ridge, relative to the total weight
JACKKNIFE_GROUPS = 200


def calibrate(weights, design, lam, shares):
    # Raking as a calibration (Deville and Sarndal): the weights v = w exp(design lam) nearest
    # to w in entropy whose value shares in every dimension are the targets, by Newton on
    # the concave dual lam' T - sum(v) - ridge/2 |lam|^2 (T: the shares times the total
    # weight). Iterative proportional fitting solves the same problem only when the margins
    # are compatible; a learner's few ads per rare value often make them incompatible (a
    # value seen only beside one other), and IPF then cycles. The ridge makes the dual
    # strictly concave, so Newton always converges: to the exact raking where it exists,
    # else to the nearest compromise.
    total = float(weights.sum())
    goal, tau = shares * total, RIDGE * total

    def dual(l):
        with np.errstate(over="ignore", invalid="ignore"):
            v = weights * np.exp(design @ l)
            return float(l @ goal - v.sum() - 0.5 * tau * l @ l), v

    current, v = dual(lam)
    for _ in range(100):
        grad = goal - design.T @ v - tau * lam
        hess = design.T @ (v[:, None] * design) + tau * np.eye(len(lam))
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            value, candidate = dual(lam + t * step)
            if value >= current - 1e-12 or t < 1e-8:
                break
            t /= 2.0
        lam, current, v = lam + t * step, value, candidate
        if np.max(np.abs(t * step)) < 1e-9:
            break
    return v, lam


if not np.any(w > 0):
    return None, None, None, unlogged_mass
full_shares = target_shares(X)
if full_shares is None:
    return None, None, None, unlogged_mass
v, lam = calibrate(w, X, np.zeros(X.shape[1]), full_shares)
if not np.all(np.isfinite(v)) or v.sum() <= 0:
    plpy.error("raking arrays: the raking did not converge", sqlstate="GN030")
estimate = float(v @ y / v.sum())
effective_sample_size = float(v.sum() ** 2 / np.sum(v**2))
se = None
if np.sum(w > 0) >= 2:
    # The jackknife over ads, in at most JACKKNIFE_GROUPS groups (ad i in group i mod G; one
    # ad a group up to that many ads), each group's raking started from the full one's
    # multipliers (two or three Newton steps): 200 rakings bound the cost at any n.
    groups = min(n, JACKKNIFE_GROUPS)
    loo = np.empty(groups)
    for g in range(groups):
        keep = np.arange(n) % groups != g
        shares_g = target_shares(X[keep])
        if shares_g is None:
            loo[g] = np.nan
            continue
        vg, _ = calibrate(w[keep], X[keep], lam, shares_g)
        loo[g] = vg @ y[keep] / vg.sum() if vg.sum() > 0 else np.nan
    if np.all(np.isfinite(loo)):
        se = float(np.sqrt((groups - 1) * np.var(loo)))
return estimate, se, effective_sample_size, unlogged_mass
$$;
COMMENT ON FUNCTION genome._raked_estimate(
    double precision [], double precision [], integer [], integer [], double precision []
) IS
'Internal (evaluate_policy; docs/learning.md#off-policy-evaluation): per ad its metric p_y and importance weight p_w, per ad and dimension (row-major) the 1-based place of its value among the p_sizes values of the dimension, per dimension the target probabilities of its values (concatenated): the weights raked (entropy calibration, Deville and Sarndal: the weights nearest the given ones whose value shares in every dimension are the targets among the values the ads carry, by Newton on the dual with a ridge of 1e-4 of the total weight, so incompatible shares get the nearest compromise), the raked weighted mean of p_y (estimate), its jackknife standard error over ads (se; delete-one up to 200 ads, else 200 groups of ads, i mod 200; each raking started from the full one''s multipliers), the raked weights'' effective sample size, and unlogged_mass, the largest over dimensions of the target probability on values no ad with a positive weight carries. NULLs without a positively weighted ad, but unlogged_mass 1 (se: NULL without two). GN030 on mismatched lengths, non-finite inputs, negative weights or targets, or places outside a dimension; GN031 beyond helper_max_rows ads.';
