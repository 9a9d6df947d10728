-- Generation A/B tests (docs/experiments.md#generation-ab-tests): one look at the arms, with the
-- ad runs as the units and the alpha-spending level of the look.

CREATE OR REPLACE FUNCTION genome._generation_look(
    p_variant double precision [],
    p_control double precision [],
    p_ads_variant integer,
    p_ads_control integer,
    p_min_sample_size integer,
    p_min_runs double precision,
    p_fraction double precision,
    p_spent_before double precision,
    p_alpha double precision,
    p_rho double precision
)
RETURNS TABLE (
    n_variant integer,
    n_control integer,
    mean_variant double precision,
    mean_control double precision,
    t double precision,
    df double precision,
    p_value double precision,
    tested boolean,
    level double precision,
    alpha_spent double precision,
    winner text
)
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
# Welch's t test on per-run means, the computation of
# scipy.stats.ttest_ind(variant, control, equal_var=False), written out in plain Python
# (two-pass mean and variance; scipy.special.stdtr is the t CDF scipy uses) because it runs
# once per look, metric and experiment, where numpy set-up or scipy.stats would cost more
# than the arithmetic.
import math
from scipy.special import stdtr

def sample(values):
    out = [] if values is None else list(values)
    if any(v is None for v in out):
        plpy.error("run-level test samples must not contain NULL", sqlstate="GN030")
    out = [float(v) for v in out]
    if not all(math.isfinite(v) for v in out):
        plpy.error("run-level test samples must be finite numbers", sqlstate="GN030")
    return out

def moments(v):
    if not v:
        return None, None
    m = math.fsum(v) / len(v)
    return m, (math.fsum((a - m) ** 2 for a in v) / (len(v) - 1) if len(v) > 1 else None)

x, y = sample(p_variant), sample(p_control)
n1, n2 = len(x), len(y)
(m1, s1), (m2, s2) = moments(x), moments(y)
t = df = p = None
if n1 >= 2 and n2 >= 2:
    v1, v2 = s1 / n1, s2 / n2
    se2 = v1 + v2
    if se2 > 0:
        t = (m1 - m2) / math.sqrt(se2)
        df = se2 ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
        p = min(1.0, 2.0 * float(stdtr(df, -abs(t))))
    elif m1 == m2:
        # Every run of both arms has the same value: no difference at all.
        p = 1.0

# Alpha spending (power family alpha * f^rho, f the elapsed share of the planned duration):
# a look may use what the function allows by now less what earlier tested looks used. The
# levels of all tested looks then sum to at most alpha (union bound), whatever the
# correlation between looks.
spent_before = float(p_spent_before or 0.0)
fraction = min(1.0, max(0.0, float(p_fraction)))
spent_now = float(p_alpha) * fraction ** float(p_rho)
tested = bool(
    p is not None
    and (p_ads_variant or 0) >= p_min_sample_size and (p_ads_control or 0) >= p_min_sample_size
    and n1 >= p_min_runs and n2 >= p_min_runs
)
level = max(spent_now - spent_before, 0.0) if tested else None
spent = max(spent_now, spent_before) if tested else spent_before
winner = None
if tested and p < level:
    winner = "variant" if t > 0 else "control"
return [(n1, n2, m1, m2, t, df, p, tested, level, spent, winner)]
$$;
COMMENT ON FUNCTION genome._generation_look(double precision [], double precision [], integer, integer, integer, double precision, double precision, double precision, double precision, double precision) IS
'Internal: one look of a generation A/B test (docs/experiments.md#generation-ab-tests) on one metric''s per-run means of the variant and the control (runs are the units, so ads of one run are not counted as independent). Welch''s two-sided t test, as scipy.stats.ttest_ind(variant, control, equal_var=False): fewer than 2 runs in an arm gives no test; no spread in either arm gives p = 1 when the means are equal, else no test. tested when there is a p and both arms have p_min_sample_size ads and p_min_runs runs; level = p_alpha * p_fraction^p_rho (fraction clamped to [0, 1]) - p_spent_before; winner (variant or control, by the sign of t) when tested and p < level, else NULL; alpha_spent is what the next look starts from. GN030: NULL or non-finite values.';
