-- Quantiles of the normal and Student t distributions for confidence intervals (the
-- functions scipy.stats.norm.ppf / t.ppf call, without importing scipy.stats).

CREATE OR REPLACE FUNCTION genome._normal_quantile(p_p double precision)
RETURNS double precision
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
from scipy.special import ndtri
if p_p is None or not (0.0 < p_p < 1.0):
    plpy.error("probability must be strictly between 0 and 1, got %s" % (p_p,), sqlstate="GN030")
return float(ndtri(p_p))
$$;
COMMENT ON FUNCTION genome._normal_quantile(double precision) IS
'Internal: standard normal quantile (scipy.special.ndtri). GN030: p not strictly between 0 and 1.';

CREATE OR REPLACE FUNCTION genome._t_quantile(p_p double precision, p_df double precision)
RETURNS double precision
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
import math
from scipy.special import gammaln, stdtr, stdtrit
if p_p is None or not (0.0 < p_p < 1.0):
    plpy.error("probability must be strictly between 0 and 1, got %s" % (p_p,), sqlstate="GN030")
if p_df is None or not (p_df > 0) or math.isinf(p_df):
    plpy.error("degrees of freedom must be finite and > 0, got %s" % (p_df,), sqlstate="GN030")
# Debian's scipy inverts the t CDF to only ~1e-9; Newton steps on its (accurate) CDF
# bring the quantile to machine precision.
df = float(p_df)
log_norm = gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * math.log(df * math.pi)
x = float(stdtrit(df, p_p))
for _ in range(3):
    pdf = math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))
    x -= (float(stdtr(df, x)) - p_p) / pdf
return x
$$;
COMMENT ON FUNCTION genome._t_quantile(double precision, double precision) IS
'Internal: Student t quantile with df degrees of freedom (scipy.special.stdtrit refined by Newton steps on stdtr to machine precision). GN030: p not strictly between 0 and 1, or df not finite and > 0.';

CREATE OR REPLACE FUNCTION genome._ci_level()
RETURNS double precision
LANGUAGE plpgsql
STABLE
SET search_path = genome, public
AS $$
DECLARE
    v double precision := genome._setting_num('monitoring_ci_level');
BEGIN
    IF v IS NULL OR NOT (v > 0 AND v < 1) THEN
        RAISE EXCEPTION 'setting monitoring_ci_level must be strictly between 0 and 1, got %', v
            USING ERRCODE = 'GN090';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION genome._ci_level() IS
'Internal: the monitoring_ci_level setting, checked. GN090: not strictly between 0 and 1.';
