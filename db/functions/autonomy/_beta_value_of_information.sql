-- Expected improvement of a Beta-distributed rate over an incumbent, and its interval.

CREATE OR REPLACE FUNCTION genome._beta_value_of_information(
    p_alpha double precision [],
    p_beta double precision [],
    p_incumbent double precision [],
    p_level double precision
)
RETURNS TABLE (
    idx integer,
    expected_improvement double precision,
    prob_better double precision,
    ci_lower double precision,
    ci_upper double precision
)
LANGUAGE plpython3u
STABLE
AS $$
import numpy as np
from scipy.special import betainc
from scipy.stats import beta as beta_dist

if p_alpha is None or len(p_alpha) == 0:
    return []
# Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
plpy.execute(
    plpy.prepare("SELECT genome._require_helper_size($1, $2, $3)", ["text", "bigint", "text"]),
    ["beta arms", len(p_alpha), "helper_max_rows"],
)
a = np.asarray(p_alpha, dtype=float)
b = np.asarray(p_beta, dtype=float)
c = np.clip(np.asarray(p_incumbent, dtype=float), 0.0, 1.0)
mean = a / (a + b)
# E[max(theta - c, 0)] = mean (1 - I_c(a + 1, b)) - c (1 - I_c(a, b)).
tail = 1.0 - betainc(a, b, c)
ei = np.maximum(mean * (1.0 - betainc(a + 1.0, b, c)) - c * tail, 0.0)
q = (1.0 - float(p_level)) / 2.0
lo = beta_dist.ppf(q, a, b)
hi = beta_dist.ppf(1.0 - q, a, b)
return [
    (i + 1, float(ei[i]), float(tail[i]), float(lo[i]), float(hi[i])) for i in range(len(a))
]
$$;
COMMENT ON FUNCTION genome._beta_value_of_information(
    double precision [], double precision [], double precision [], double precision
) IS
'Internal (whitespace): for each Beta(alpha_i, beta_i) and incumbent rate c_i (1-based idx): the expected improvement E[max(theta - c, 0)] (the expected value of perfect information about theta when the alternative is the incumbent), P(theta > c) and the equal-tailed interval at p_level. GN031 beyond helper_max_rows arms.';
