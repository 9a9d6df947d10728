-- Mann-Whitney U test, the generation A/B analysis's ad-level description
-- (docs/experiments.md#generation-ab-tests): two-sided, tie-corrected,
-- normal approximation with continuity correction, the computation of
-- scipy.stats.mannwhitneyu(x, y, method='asymptotic', use_continuity=True).

CREATE OR REPLACE FUNCTION genome._mann_whitney_u(
    p_x double precision [],
    p_y double precision []
)
RETURNS TABLE (
    n_x integer,
    n_y integer,
    u_x double precision,
    u_y double precision,
    z double precision,
    p_value double precision,
    mean_rank_x double precision,
    mean_rank_y double precision
)
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
import numpy as np
# scipy.special.ndtr is the normal CDF scipy.stats.mannwhitneyu itself uses.
from scipy.special import ndtr

x = np.asarray(p_x if p_x is not None else [], dtype=object)
y = np.asarray(p_y if p_y is not None else [], dtype=object)
if any(v is None for v in x) or any(v is None for v in y):
    plpy.error("Mann-Whitney U samples must not contain NULL", sqlstate="GN030")
x = x.astype(np.float64)
y = y.astype(np.float64)
if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    plpy.error("Mann-Whitney U samples must be finite numbers", sqlstate="GN030")
n1, n2 = len(x), len(y)
if n1 == 0 or n2 == 0:
    return [(n1, n2, None, None, None, None, None, None)]

xy = np.concatenate([x, y])
n = n1 + n2
# Average ranks: each group of equal values shares the mean of the ranks it spans.
values, inverse, counts = np.unique(xy, return_inverse=True, return_counts=True)
upper = np.cumsum(counts)
avg_rank = upper - (counts - 1) / 2.0
ranks = avg_rank[inverse]
r1 = ranks[:n1].sum()
u1 = r1 - n1 * (n1 + 1) / 2.0
u2 = n1 * n2 - u1
u = max(u1, u2)

mu = n1 * n2 / 2.0
tie_term = float(np.sum(counts.astype(np.float64) ** 3 - counts))
var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
if var <= 0:
    # Every value tied: no evidence either way.
    z_val = None
    p = 1.0
else:
    z_val = (u - mu - 0.5) / np.sqrt(var)
    p = float(min(max(2.0 * ndtr(-z_val), 0.0), 1.0))
    z_val = float(z_val)
return [(n1, n2, float(u1), float(u2), z_val, p,
         float(ranks[:n1].mean()), float(ranks[n1:].mean()))]
$$;
COMMENT ON FUNCTION genome._mann_whitney_u(double precision [], double precision []) IS
'Internal: two-sided Mann-Whitney U of x against y with average ranks for ties, tie-corrected variance and continuity correction (normal approximation), as scipy.stats.mannwhitneyu(x, y, method=''asymptotic''); u_x is scipy''s statistic, z uses max(u_x, u_y). An empty sample gives NULL statistics; all values tied gives p = 1. GN030: NULL or non-finite values.';
