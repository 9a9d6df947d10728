"""Attribution: genome.attribute over one brand vs pandas + statsmodels StratifiedTable.

Project: `SELECT * FROM genome.attribute(brand, 'hook_type', p_now)` (stratified
Mantel-Haenszel per value, CMH and Breslow-Day tests, strata consistency, reversal flag).
Alternative on the same rows: pull them over psycopg (COPY, the fastest client pull) into
pandas, build the same strata (context x spend bucket x ISO week), and per value run
statsmodels' StratifiedTable on its informative 2x2 tables (pooled OR, its SE and CI,
test_null_odds, test_equal_odds, agreeing strata), plus the ad-level variance of
docs/attribution.md#ads-as-the-units (per ad the empirical logit of its CTR, the pooled
within-cell spread, the Robins-Breslow-Greenland variance widened by it: the *_ad_level
columns) in numpy. The pooled odds ratios and the ad-level standard errors of both are
compared.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from bench import data
from bench.harness import BenchResult, Row, Server, time_in_rollback

DIMENSION = "hook_type"
SPEND_EDGES = (20.0, 100.0, 500.0)


def pull(conn: psycopg.Connection, brand: Any, dimension: str) -> pd.DataFrame:
    query = sql.SQL(
        "COPY (SELECT element_tags ->> {dim} AS val, element_tags ->> 'awareness_stage' AS aw, "
        "element_tags ->> 'audience_type' AS au, total_spend, first_date, total_clicks, "
        "total_impressions FROM genome.creative_element_rewards "
        "WHERE brand_id = {brand} AND matured_at <= {now}) TO STDOUT (FORMAT csv, HEADER)"
    ).format(dim=dimension, brand=str(brand), now=data.P_NOW.isoformat())
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return pd.read_csv(buf, parse_dates=["first_date"])


def analyse(df: pd.DataFrame) -> pd.DataFrame:
    """Per value: MH pooled OR, SE of its log, 95% CI, CMH and Breslow-Day tests, strata."""
    iso = df["first_date"].dt.isocalendar()
    df = df.assign(
        stratum=df["aw"].fillna("unknown")
        + "|"
        + df["au"].fillna("unknown")
        + "|"
        + np.digitize(df["total_spend"], SPEND_EDGES).astype(str)
        + "|"
        + iso["year"].astype(str)
        + "-"
        + iso["week"].astype(str),
        k=df["total_clicks"].astype(float),
        m=(df["total_impressions"] - df["total_clicks"]).astype(float),
    )
    # Per ad: squared impressions, empirical logit of its CTR and its binomial variance.
    n_imp = df["total_impressions"].astype(float)
    has = n_imp > 0
    df = df.assign(
        s2=n_imp**2,
        ns=has.astype(float),
        sl=np.where(has, np.log((df["k"] + 0.5) / (df["m"] + 0.5)), 0.0),
        sv=np.where(has, 1 / (df["k"] + 0.5) + 1 / (df["m"] + 0.5), 0.0),
    )
    df["sll"] = df["sl"] ** 2
    cols = ["k", "m", "s2", "ns", "sl", "sll", "sv"]
    cells = df.groupby(["val", "stratum"], sort=True, dropna=False)[cols].sum().reset_index()
    # Ad-to-ad spread: pooled within-cell variance of the logits less the binomial part.
    within = cells[cells["ns"] > 0]
    df_spread = float((within["ns"] - 1).sum())
    tau2 = (
        within["sll"]
        - within["sl"] ** 2 / within["ns"]
        - (within["ns"] - 1) * within["sv"] / within["ns"]
    ).sum() / df_spread
    kappa = float(np.expm1(max(tau2, 0.0)))
    strata = cells.groupby("stratum")[["k", "m", "s2"]].sum()
    cells = cells.dropna(subset=["val"])
    out: list[dict[str, Any]] = []
    for val, g in cells.groupby("val", sort=True):
        s = strata.loc[g["stratum"]]
        a, b = g["k"].to_numpy(), g["m"].to_numpy()
        c, d = s["k"].to_numpy() - a, s["m"].to_numpy() - b
        s2v = g["s2"].to_numpy()
        s2r = s["s2"].to_numpy() - s2v
        informative = (a + b > 0) & (c + d > 0) & (a + c > 0) & (b + d > 0)
        tables = np.stack([[a, b], [c, d]])[:, :, informative]
        row: dict[str, Any] = {
            "value": val,
            "n_strata": len(g),
            "informative": int(informative.sum()),
        }
        if informative.sum() >= 1:
            st = StratifiedTable(tables)
            lo, hi = st.oddsratio_pooled_confint()
            null = st.test_null_odds(correction=False)
            equal = st.test_equal_odds(adjust=False)
            per = (tables[0, 0] * tables[1, 1]) / (tables[0, 1] * tables[1, 0])
            side = np.sign(np.log(st.oddsratio_pooled))
            # Ad-level variance: the delta-method term of the ad-to-ad spread on top of RBG.
            ai, bi, ci, di = a[informative], b[informative], c[informative], d[informative]
            ni = ai + bi + ci + di
            r = st.oddsratio_pooled
            w1, w0 = (di + r * ci) / ni, (ai + r * bi) / ni
            between = np.sum(
                w1**2 * (ai / (ai + bi)) ** 2 * (s2v[informative] - (ai + bi))
                + w0**2 * (ci / (ci + di)) ** 2 * (s2r[informative] - (ci + di))
            )
            va_ad = st.logodds_pooled_se**2 + kappa * between / np.sum(ai * di / ni) ** 2
            se_ad = float(np.sqrt(va_ad))
            q = stats.t.ppf(0.975, df_spread)
            lor = np.log(r)
            row |= {
                "mh_odds_ratio": st.oddsratio_pooled,
                "mh_log_or_se": st.logodds_pooled_se,
                "ci": (lo, hi),
                "cmh": (null.statistic, null.pvalue),
                "breslow_day": (equal.statistic, equal.pvalue),
                "agreeing": int((np.sign(np.log(per)) == side).sum()),
                "mh_log_or_se_ad_level": se_ad,
                "ci_ad_level": (np.exp(lor - q * se_ad), np.exp(lor + q * se_ad)),
                "p_value_ad_level": 2 * stats.t.sf(abs(lor) / se_ad, df_spread),
            }
        out.append(row)
    return pd.DataFrame(out)


def run(server: Server, rows: int, repeats: int, seed: int = 3) -> BenchResult:
    res = BenchResult("attribution", {"reward_rows": rows, "strata": 16, "dimension": DIMENSION})
    with server.database("attribution") as url:
        with psycopg.connect(url) as conn:
            tenant = data.tenant(conn, "attribution", products=4)
            t0 = time.perf_counter()
            data.insert_rewards(conn, tenant, rows, data.element_registry(conn), seed=seed)
            conn.commit()
            res.details["generate_s"] = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE genome.creative_element_rewards")
        args = (tenant.brand_id, DIMENSION, data.P_NOW)
        # An API call on a pooled connection: timed warm (PL/Python imported), as the
        # alternative's imports are not timed either.
        durations, _ = time_in_rollback(
            url, "SELECT * FROM genome.attribute(%s, %s, %s)", args, repeats, warm=True
        )
        with psycopg.connect(url, autocommit=True) as conn:
            project = conn.execute(
                "SELECT value, mh_odds_ratio, n_strata, mh_log_or_se_ad_level "
                "FROM genome.attribute(%s, %s, %s)",
                args,
            ).fetchall()
            pulls: list[float] = []
            computes: list[float] = []
            table = pd.DataFrame()
            for _ in range(repeats):
                t0 = time.perf_counter()
                df = pull(conn, tenant.brand_id, DIMENSION)
                t1 = time.perf_counter()
                table = analyse(df)
                pulls.append(t1 - t0)
                computes.append(time.perf_counter() - t1)
    proj_s = statistics.median(durations)
    totals = [p + c for p, c in zip(pulls, computes, strict=True)]
    alt_s = statistics.median(totals)
    ours = {r[0]: r[1] for r in project}
    theirs = dict(zip(table["value"], table["mh_odds_ratio"], strict=True))
    diffs = [abs(ours[v] / theirs[v] - 1) for v in ours if v in theirs and ours[v] and theirs[v]]
    ours_se = {r[0]: r[3] for r in project}
    theirs_se = dict(zip(table["value"], table["mh_log_or_se_ad_level"], strict=True))
    se_diffs = [
        abs(ours_se[v] / theirs_se[v] - 1) for v in ours_se if ours_se[v] and theirs_se.get(v)
    ]
    res.rows.append(
        Row("one brand x dimension (median)", "s", proj_s, alt_s, "psycopg + pandas + statsmodels")
    )
    res.details |= {
        "project_s": durations,
        "alternative_total_s": totals,
        "alternative_pull_s": pulls,
        "alternative_compute_s": computes,
        "values": len(ours),
        "strata_per_value": max(r[2] for r in project),
        "max_relative_diff_mh_odds_ratio": max(diffs) if diffs else None,
        "max_relative_diff_ad_level_se": max(se_diffs) if se_diffs else None,
    }
    if len(diffs) != len(ours):
        res.notes.append("the pooled odds ratios of some values could not be compared")
    res.notes.append(
        f"pooled MH odds ratios agree with statsmodels to a relative "
        f"{res.details['max_relative_diff_mh_odds_ratio']:.1e}, the ad-level standard errors "
        f"to {res.details['max_relative_diff_ad_level_se'] or float('nan'):.1e}; "
        "the alternative's pull "
        f"(COPY into pandas) is {statistics.median(pulls):.2f} s of its time."
    )
    return res
