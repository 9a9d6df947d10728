-- Budget gate (docs/experiments.md#power): the planned sample of a two-proportion test.

CREATE OR REPLACE FUNCTION genome._required_sample_size(
    p_baseline double precision,
    p_mde double precision,
    p_alpha double precision,
    p_power double precision
)
RETURNS bigint
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
import math
from scipy.optimize import brentq
from scipy.stats import norm

values = (p_baseline, p_mde, p_alpha, p_power)
if any(v is None or not math.isfinite(v) for v in values):
    plpy.error("sample size inputs must be finite numbers", sqlstate="GN607")
treated = p_baseline * (1.0 + p_mde)
if not (0.0 < p_baseline < 1.0) or p_mde <= 0 or treated >= 1.0:
    plpy.error(
        "a lift of %g on a baseline rate of %g is not a rate in (0, 1)" % (p_mde, p_baseline),
        sqlstate="GN607",
    )
if not (0.0 < p_alpha < 1.0) or not (0.0 < p_power < 1.0):
    plpy.error("alpha and power must lie in (0, 1)", sqlstate="GN607")
# Cohen's h (arcsine transform, variance 1/n per arm); the difference of the two transformed
# rates has variance 2/n. Power of the two-sided test counts both rejection tails; the
# one-tail closed form starts the root search.
h = abs(2.0 * math.asin(math.sqrt(treated)) - 2.0 * math.asin(math.sqrt(p_baseline)))
z = norm.ppf(1.0 - p_alpha / 2.0)


def shortfall(n):
    d = h * math.sqrt(n / 2.0)
    return norm.cdf(d - z) + norm.cdf(-d - z) - p_power


n0 = 2.0 * ((z + norm.ppf(p_power)) / h) ** 2
if shortfall(1e-9) >= 0:
    return 1
n = brentq(shortfall, 1e-9, n0 * 1.01 + 1.0, xtol=1e-9, rtol=1e-12)
return int(math.ceil(n))
$$;
COMMENT ON FUNCTION genome._required_sample_size(
    double precision, double precision, double precision, double precision
) IS
'Internal: trials per arm for a two-sided two-proportion test to detect the relative lift p_mde on p_baseline at significance p_alpha and power p_power: the smallest n whose two-sided power Phi(h sqrt(n/2) - z_{1-alpha/2}) + Phi(-h sqrt(n/2) - z_{1-alpha/2}) reaches p_power (about 2 ((z_{1-alpha/2} + z_power) / h)^2), with Cohen''s h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)) (as statsmodels NormalIndPower with proportion_effectsize). GN607: non-finite inputs, baseline outside (0,1), non-positive lift or a treated rate >= 1, alpha or power outside (0,1).';
