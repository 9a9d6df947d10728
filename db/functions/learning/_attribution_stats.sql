-- Mantel-Haenszel / Cochran-Mantel-Haenszel / Breslow-Day statistics for many values at
-- once, on per-(value, stratum) 2x2 tables that SQL has already aggregated. One call per
-- genome.attribute; vectorised with numpy over all (value, stratum) rows, no row loop.
-- Besides the statsmodels statistics, the ad-level variance of log OR_MH
-- (docs/attribution.md#ads-as-the-units): the Robins-Breslow-Greenland variance plus the
-- delta-method term of the ad-to-ad spread.

-- The earlier signatures without the ad-level inputs, and without the ads' logits.
DROP FUNCTION IF EXISTS genome._attribution_stats(
    text [], double precision [], double precision [], double precision [], double precision []
);
DROP FUNCTION IF EXISTS genome._attribution_stats(
    text [], double precision [], double precision [], double precision [], double precision [],
    double precision [], double precision [], double precision, double precision
);

CREATE OR REPLACE FUNCTION genome._attribution_stats(
    p_value text [],
    p_a double precision [],
    p_b double precision [],
    p_c double precision [],
    p_d double precision [],
    p_s2_value double precision [],
    p_s2_rest double precision [],
    p_spread double precision,
    p_spread_df double precision,
    p_ns_value double precision [],
    p_ns_rest double precision [],
    p_sl_value double precision [],
    p_sl_rest double precision [],
    p_logit_var double precision
)
RETURNS TABLE (
    value text,
    n_strata integer,
    informative_strata integer,
    agreeing_strata integer,
    disagreeing_strata integer,
    mh_odds_ratio double precision,
    mh_log_or_se double precision,
    mh_ci_lower double precision,
    mh_ci_upper double precision,
    mh_log_or_se_ad_level double precision,
    mh_ci_lower_ad_level double precision,
    mh_ci_upper_ad_level double precision,
    p_value_ad_level double precision,
    design_effect double precision,
    ad_mean_log_or double precision,
    ad_mean_p_value double precision,
    cmh_chi2 double precision,
    cmh_p_value double precision,
    breslow_day_chi2 double precision,
    breslow_day_df integer,
    breslow_day_p_value double precision
)
LANGUAGE plpython3u
IMMUTABLE
-- Restricted, not unsafe: the one call runs in the leader, above the Gather of a parallel scan
-- (an unsafe function anywhere in a query rules out a parallel plan for all of it; the tenant
-- policies still do, docs/attribution.md#cost).
PARALLEL RESTRICTED
SET search_path = genome, public
AS $$
import numpy as np
# scipy.special, not scipy.stats: the same functions scipy.stats.chi2.sf / norm.ppf call,
# without the heavy import of scipy.stats in each new session.
from scipy.special import chdtrc, ndtri, stdtr, stdtrit

if not p_value:
    return []
lengths = {
    len(p_value), len(p_a), len(p_b), len(p_c), len(p_d), len(p_s2_value), len(p_s2_rest),
    len(p_ns_value), len(p_ns_rest), len(p_sl_value), len(p_sl_rest),
}
if len(lengths) != 1:
    plpy.error("value and count arrays differ in length", sqlstate="GN030")

a_all = np.asarray(p_a, dtype=np.float64)
b_all = np.asarray(p_b, dtype=np.float64)
c_all = np.asarray(p_c, dtype=np.float64)
d_all = np.asarray(p_d, dtype=np.float64)
s2v_all = np.asarray(p_s2_value, dtype=np.float64)
s2r_all = np.asarray(p_s2_rest, dtype=np.float64)
nsv_all = np.asarray(p_ns_value, dtype=np.float64)
nsr_all = np.asarray(p_ns_rest, dtype=np.float64)
slv_all = np.asarray(p_sl_value, dtype=np.float64)
slr_all = np.asarray(p_sl_rest, dtype=np.float64)
counts = np.stack([a_all, b_all, c_all, d_all, s2v_all, s2r_all, nsv_all, nsr_all])
# (the logit sums may be negative, so they are checked for finiteness only)
if not (np.all(np.isfinite(counts)) and np.all(np.isfinite([slv_all, slr_all]))):
    plpy.error("table counts must be finite", sqlstate="GN030")
if (counts < 0).any():
    plpy.error("table counts must be >= 0", sqlstate="GN030")
# The ad-to-ad spread (squared CV of CTR between ads of one cell) and the degrees of freedom
# of its estimate; NULL when no cell has two ads: then there is no ad-level variance.
ad_level = p_spread is not None and p_spread_df is not None and p_spread_df > 0
if ad_level and not (np.isfinite(p_spread) and p_spread >= 0 and np.isfinite(p_spread_df)):
    plpy.error("table counts: the ad-to-ad spread must be finite and >= 0", sqlstate="GN030")

keys, inv_all = np.unique(np.asarray(p_value, dtype=object).astype(str), return_inverse=True)
nv = len(keys)

# A stratum informs the pooled estimate only when all four margins are positive; any
# other stratum adds exactly zero to the MH and CMH sums and would make Breslow-Day NaN.
info = (
    (a_all + b_all > 0) & (c_all + d_all > 0) & (a_all + c_all > 0) & (b_all + d_all > 0)
)
a, b, c, d = a_all[info], b_all[info], c_all[info], d_all[info]
s2v, s2r = s2v_all[info], s2r_all[info]
nsv, nsr, slv, slr = nsv_all[info], nsr_all[info], slv_all[info], slr_all[info]
inv = inv_all[info]


def gsum(x):
    return np.bincount(inv, weights=x, minlength=nv)


n_strata = np.bincount(inv_all, minlength=nv)
k_info = np.bincount(inv, minlength=nv)

# Same quantities and formulas as statsmodels' StratifiedTable (table [[a, b], [c, d]]).
apb, apc, bpd, cpd = a + b, a + c, b + d, c + d
ad, bc = a * d, b * c
apd, dma = a + d, d - a
n = a + b + c + d

with np.errstate(all="ignore"):
    adns = gsum(ad / n)
    bcns = gsum(bc / n)
    r = adns / bcns
    lor = np.log(r)

    # Robins-Breslow-Greenland variance of the log pooled odds ratio.
    lor_va = gsum(apd * ad / n**2) / adns**2
    mid = apd * bc / n**2
    mid += (1 - apd / n) * ad / n
    lor_va += gsum(mid) / (adns * bcns)
    lor_va += gsum((1 - apd / n) * bc / n) / bcns**2
    lor_va /= 2
    lor_se = np.sqrt(lor_va)
    f = -ndtri(0.05 / 2)
    ci_lo = np.exp(lor - f * lor_se)
    ci_hi = np.exp(lor + f * lor_se)

    # Ad-level variance (docs/attribution.md#ads-as-the-units). An ad with n impressions and
    # CTR spread kappa (squared CV) around its group's rate p adds kappa p^2 (n^2 - n) to the
    # variance of its clicks beyond the binomial n p (1 - p); the group's clicks in a stratum
    # get kappa p^2 (sum n^2 - N). Linearised, with impressions fixed,
    # log OR_MH - log OR ~ sum_k [w1_k (a_k - E a_k) - w0_k (c_k - E c_k)] / sum_k R_k with
    # w1 = (d + OR c) / n and w0 = (a + OR b) / n. The binomial part of that variance is the
    # one Robins-Breslow-Greenland estimates (valid in sparse strata too): kept, plus the
    # ad-to-ad part. Hand-written: no library has an MH variance for clustered counts.
    if ad_level:
        rr = r[inv]
        p1, p0 = a / apb, c / cpd
        w1, w0 = (d + rr * c) / n, (a + rr * b) / n
        between = gsum(w1**2 * p1**2 * (s2v - apb) + w0**2 * p0**2 * (s2r - cpd))
        lor_va_ad = lor_va + p_spread * between / adns**2
        se_ad = np.sqrt(lor_va_ad)
        q = stdtrit(p_spread_df, 0.975)
        ci_lo_ad = np.exp(lor - q * se_ad)
        ci_hi_ad = np.exp(lor + q * se_ad)
        p_ad = 2 * stdtr(p_spread_df, -np.abs(lor) / se_ad)
        deff = lor_va_ad / lor_va

    # One ad, one vote (docs/attribution.md#one-ad-one-vote): per informative stratum with
    # ads on both sides, the difference of the mean empirical logits of the value's ads and
    # the other ads, each ad one unit whatever its impressions; pooled over the strata by
    # inverse variance (the ads' pooled within-cell logit variance over each side's count),
    # with Student t on that variance's degrees of freedom: the stratified two-sample t test.
    # Where a few breakout creatives with most of the impressions carry the pooled odds
    # ratio, they count here as the single ads they are.
    ad_mean, ad_mean_p = np.full(nv, np.nan), np.full(nv, np.nan)
    both = (nsv > 0) & (nsr > 0)
    if ad_level and p_logit_var is not None and p_logit_var > 0 and both.any():
        diff = slv[both] / nsv[both] - slr[both] / nsr[both]
        prec = 1.0 / (p_logit_var * (1.0 / nsv[both] + 1.0 / nsr[both]))
        pw = np.bincount(inv[both], weights=prec, minlength=nv)
        ad_mean = np.bincount(inv[both], weights=prec * diff, minlength=nv) / pw
        ad_mean_p = 2 * stdtr(p_spread_df, -np.abs(ad_mean) * np.sqrt(pw))

    # Mantel-Haenszel test of OR = 1 (no continuity correction, statsmodels' default).
    cmh = np.abs(gsum(a - apb * apc / n)) ** 2
    cmh /= gsum(apb * apc * bpd * cpd / (n**2 * (n - 1)))
    cmh_p = chdtrc(1, cmh)

    # Breslow-Day test of equal odds ratios (no Tarone adjustment, statsmodels' default).
    rr = r[inv]
    qa = 1 - rr
    qb = rr * (apb + apc) + dma
    qc = -rr * apb * apc
    dr = np.sqrt(qb**2 - 4 * qa * qc)
    # At a pooled OR of exactly 1 the quadratic is linear (statsmodels divides by zero).
    e11 = np.where(qa != 0, (-qb + dr) / (2 * qa), -qc / qb)
    v11 = 1 / (1 / e11 + 1 / (apc - e11) + 1 / (apb - e11) + 1 / (dma + e11))
    bd = gsum((a - e11) ** 2 / v11)
    bd_df = k_info - 1
    bd_p = chdtrc(np.maximum(bd_df, 1), bd)

    direction = np.where(np.isfinite(lor), np.sign(lor), 0.0)
    sgn = np.sign(ad - bc)
    dirs = direction[inv]
    agree = np.bincount(inv, weights=((sgn == dirs) & (dirs != 0)).astype(np.float64), minlength=nv)
    disagree = np.bincount(inv, weights=((sgn == -dirs) & (dirs != 0)).astype(np.float64), minlength=nv)


def fin(x):
    x = float(x)
    return x if np.isfinite(x) else None


out = []
for i, key in enumerate(keys):
    has = k_info[i] > 0
    or_ok = has and np.isfinite(r[i]) and r[i] > 0
    bd_ok = or_ok and k_info[i] >= 2
    out.append((
        str(key),
        int(n_strata[i]),
        int(k_info[i]),
        int(agree[i]),
        int(disagree[i]),
        fin(r[i]) if has else None,
        fin(lor_se[i]) if or_ok else None,
        fin(ci_lo[i]) if or_ok else None,
        fin(ci_hi[i]) if or_ok else None,
        fin(se_ad[i]) if or_ok and ad_level else None,
        fin(ci_lo_ad[i]) if or_ok and ad_level else None,
        fin(ci_hi_ad[i]) if or_ok and ad_level else None,
        fin(p_ad[i]) if or_ok and ad_level else None,
        fin(deff[i]) if or_ok and ad_level else None,
        fin(ad_mean[i]),
        fin(ad_mean_p[i]),
        fin(cmh[i]) if has else None,
        fin(cmh_p[i]) if has else None,
        fin(bd[i]) if bd_ok else None,
        int(bd_df[i]) if bd_ok else None,
        fin(bd_p[i]) if bd_ok else None,
    ))
return out
$$;

COMMENT ON FUNCTION genome._attribution_stats(
    text [], double precision [], double precision [], double precision [], double precision [],
    double precision [], double precision [], double precision, double precision,
    double precision [], double precision [], double precision [], double precision [],
    double precision
) IS
'Internal to genome.attribute. Input: parallel arrays, one element per (value, stratum) 2x2 table '
'[[a, b], [c, d]] = [[clicks, non-clicks of ads with the value], [clicks, non-clicks of the other ads]], '
'with s2_value / s2_rest = sum of squared impressions per ad of either group; p_spread = the '
'squared CV of CTR between ads of one cell and p_spread_df its degrees of freedom. '
'Per value, over its informative strata (all four margins > 0): Mantel-Haenszel pooled odds ratio, '
'Robins-Breslow-Greenland SE of its log and 95% normal CI, CMH chi-square (no continuity correction) '
'with df 1, Breslow-Day chi-square (no Tarone adjustment) with df = informative strata - 1; formulas '
'as statsmodels StratifiedTable, p-values from the chi-square survival function (exact in the tail '
'where 1 - cdf loses digits). agreeing/disagreeing_strata: informative strata whose own odds ratio '
'lies on the same/opposite side of 1 as the pooled one. Undefined statistics (no informative strata, '
'pooled OR 0 or infinite, Breslow-Day with < 2 strata) are NULL. Ad-level columns '
'(docs/attribution.md#ads-as-the-units): mh_log_or_se_ad_level = sqrt(RBG variance + p_spread x '
'the delta-method ad-to-ad term), its 95% CI and two-sided p-value with Student t (p_spread_df), '
'design_effect = ad-level / RBG variance; NULL when p_spread or p_spread_df is NULL or df = 0. '
'One ad, one vote (docs/attribution.md#one-ad-one-vote), from p_ns_value / p_ns_rest (ads with '
'impressions on either side of each table) and p_sl_value / p_sl_rest (the sums of their empirical '
'logits), p_logit_var the pooled within-cell variance of the ads'' empirical logits: ad_mean_log_or, '
'over the informative strata with ads on both sides, the inverse-variance weighted mean of the '
'difference of the two sides'' mean logits (variance p_logit_var x (1/n_value + 1/n_rest)), and '
'ad_mean_p_value its two-sided Student t p-value on p_spread_df degrees of freedom (NULL without '
'such a stratum or without an ad-level variance). '
'GN030: malformed arrays.';
