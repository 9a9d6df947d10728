-- Beta posterior summaries on aggregated arrays (numpy/scipy earn their place here).

-- Before it took the groups to draw (one signature, not two overloads).
DROP FUNCTION IF EXISTS genome._beta_summaries(integer [], double precision [], double precision [], integer, bigint);

CREATE OR REPLACE FUNCTION genome._beta_summaries(
    p_groups integer [],
    p_alpha double precision [],
    p_beta double precision [],
    p_draws integer,
    p_seed bigint,
    p_draw boolean [] DEFAULT NULL
)
RETURNS TABLE (idx integer, win_probability double precision, confidence_width double precision)
LANGUAGE plpython3u
STABLE
AS $$
import numpy as np
from scipy.stats import beta as beta_dist

groups = np.asarray(p_groups, dtype=np.int64)
a = np.asarray(p_alpha, dtype=float)
b = np.asarray(p_beta, dtype=float)
n = len(groups)
if n == 0:
    return []
if not (len(a) == n and len(b) == n) or (p_draw is not None and len(p_draw) != n):
    plpy.error("array lengths differ")
if np.any(~np.isfinite(a)) or np.any(~np.isfinite(b)) or np.any(a <= 0) or np.any(b <= 0):
    plpy.error("alpha and beta must be finite and positive")
draws = int(p_draws)
# Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
size_plan = plpy.prepare(
    "SELECT genome._require_helper_size($1, $2, $3)", ["text", "bigint", "text"]
)
plpy.execute(size_plan, ["beta arms", n, "helper_max_rows"])
largest_group = int(np.max(np.unique(groups, return_counts=True)[1]))
plpy.execute(size_plan, ["Monte Carlo draws times arms", draws * largest_group, "helper_max_samples"])
rng = np.random.default_rng(int(p_seed) & 0xFFFFFFFFFFFF)
win = np.full(n, np.nan)
# A group is drawn when any of its arms is marked (all are without p_draw); the groups drawn
# use the stream in group order, as a call with only their arms would.
marked = np.ones(n, dtype=bool) if p_draw is None else np.array([bool(x) for x in p_draw])
# One Thompson draw per simulated selection: the value with the highest sample wins.
order = np.argsort(groups, kind="stable")
bounds = np.flatnonzero(np.diff(groups[order])) + 1
for members in np.split(order, bounds):
    if not marked[members].any():
        continue
    samples = rng.beta(a[members][:, None], b[members][:, None], size=(len(members), draws))
    winners = np.argmax(samples, axis=0)
    win[members] = np.bincount(winners, minlength=len(members)) / draws
width = beta_dist.ppf(0.975, a, b) - beta_dist.ppf(0.025, a, b)
return [(int(i) + 1, None if np.isnan(win[i]) else float(win[i]), float(width[i])) for i in range(n)]
$$;
COMMENT ON FUNCTION genome._beta_summaries(
    integer [], double precision [], double precision [], integer, bigint, boolean []
) IS
'Internal: for Beta(alpha, beta) arms grouped by p_groups, the probability each arm wins a Thompson draw within its group (p_draws Monte Carlo draws, seeded) and the width of its 95% equal-tailed interval. With p_draw (one flag per arm) only the groups with a flagged arm are drawn, in group order from the same seed (the numbers a call with only their arms gives); the other arms'' win_probability is NULL, their width is still computed. idx is the 1-based array position. GN031 beyond helper_max_rows arms or helper_max_samples draws times the arms of the largest group.';

CREATE OR REPLACE FUNCTION genome._beta_moments(p_alpha double precision, p_beta double precision)
RETURNS TABLE (mean double precision, variance double precision)
LANGUAGE sql
IMMUTABLE
SET search_path = genome, public
AS $$
    SELECT
        p_alpha / (p_alpha + p_beta),
        p_alpha * p_beta / ((p_alpha + p_beta) ^ 2 * (p_alpha + p_beta + 1));
$$;
COMMENT ON FUNCTION genome._beta_moments(double precision, double precision) IS
'Internal: mean and variance of Beta(p_alpha, p_beta).';
