-- Mean of a sample with its Student-t confidence interval.

CREATE OR REPLACE FUNCTION genome._mean_interval(p_values double precision [], p_level double precision)
RETURNS TABLE (n integer, mean double precision, ci_low double precision, ci_high double precision)
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
import numpy as np
from scipy import stats

x = np.asarray([v for v in (p_values or []) if v is not None], dtype=float)
if len(x) == 0:
    return [(0, None, None, None)]
m = float(x.mean())
if len(x) < 2:
    return [(1, m, None, None)]
half = float(stats.t.ppf(0.5 + float(p_level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
return [(len(x), m, m - half, m + half)]
$$;
COMMENT ON FUNCTION genome._mean_interval(double precision [], double precision) IS
'Internal: n, mean and the two-sided Student-t confidence interval (level p_level, e.g. 0.95) of the non-NULL values; the interval is NULL below 2 values, the mean too for none.';
