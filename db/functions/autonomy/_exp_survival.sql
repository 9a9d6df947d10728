-- Exponential survival with right censoring: the rate of an event per day at risk and its
-- exact (gamma / chi-square) interval, for many groups at once.

CREATE OR REPLACE FUNCTION genome._exp_survival(
    p_events double precision [],
    p_exposure double precision [],
    p_level double precision
)
RETURNS TABLE (
    idx integer,
    rate double precision,
    rate_lower double precision,
    rate_upper double precision
)
LANGUAGE plpython3u
IMMUTABLE
AS $$
import numpy as np
from scipy.stats import chi2

if p_events is None or p_exposure is None or len(p_events) == 0:
    return []
d = np.asarray(p_events, dtype=float)
t = np.asarray(p_exposure, dtype=float)
ok = t > 0
a = (1.0 - float(p_level)) / 2.0
safe_t = np.where(ok, t, 1.0)
rate = np.where(ok, d / safe_t, np.nan)
with np.errstate(invalid="ignore"):
    lower = np.where(d > 0, chi2.ppf(a, np.maximum(2.0 * d, 1e-12)) / (2.0 * safe_t), 0.0)
upper = chi2.ppf(1.0 - a, 2.0 * d + 2.0) / (2.0 * safe_t)
out = []
for i in range(len(d)):
    if not ok[i]:
        out.append((i + 1, None, None, None))
    else:
        out.append((i + 1, float(rate[i]), float(lower[i]), float(upper[i])))
return out
$$;
COMMENT ON FUNCTION genome._exp_survival(double precision [], double precision [], double precision) IS
'Internal (predict_fatigue): per group i (1-based idx), events d_i over days at risk T_i: the maximum-likelihood rate d/T of an exponential time-to-event with right censoring and its exact equal-tailed interval at p_level (chi2(a/2; 2d)/2T, chi2(1-a/2; 2d+2)/2T; lower 0 when d = 0). Groups with T <= 0 give NULLs.';
