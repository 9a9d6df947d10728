"""Score update: genome.update_scores vs pull + pandas groupby + write back.

Project: `SELECT genome.update_scores(p_now)` over all matured rewards: alpha/beta per
(brand, product or brand level, dimension, value), category priors, cold-start blending,
win probabilities from Monte Carlo draws, interval widths, combos of 2 and 3 values.
Alternative on the same rewards: COPY the rewards (tags extracted per element dimension)
into pandas, groupby the same counts at brand and product level, numpy win probabilities
with the same number of draws, scipy interval widths, pandas groupby for the 2- and
3-value combos, and write everything back with COPY + INSERT ... ON CONFLICT into the same
tables. Both run in a transaction that is rolled back, so each run starts from the same
data. The alternative leaves out category priors and cold-start blending (less work).
"""

from __future__ import annotations

import io
import itertools
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from scipy import stats

from bench import data
from bench.harness import BenchResult, Row, Server, time_in_rollback

THRESHOLD = 0.5
IMPORTED_WEIGHT = 0.5
DRAWS = 10_000
COMBO_MIN = 3


def pull(conn: psycopg.Connection, dims: list[str]) -> pd.DataFrame:
    cols = sql.SQL(", ").join(
        sql.SQL("element_tags ->> {} AS {}").format(sql.Literal(d), sql.Identifier(d)) for d in dims
    )
    query = sql.SQL(
        "COPY (SELECT organization_id, brand_id, product_id, reward_score, is_imported, {cols} "
        "FROM genome.creative_element_rewards WHERE matured_at <= {now}) "
        "TO STDOUT (FORMAT csv, HEADER)"
    ).format(cols=cols, now=data.P_NOW.isoformat())
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return pd.read_csv(buf, dtype={"product_id": "string"})


def _win_probabilities(scores: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    out = pd.Series(np.nan, index=scores.index)
    for _, g in scores.groupby(["brand_id", "product_id", "dimension"], dropna=False):
        draws = rng.beta(g["alpha"].to_numpy(), g["beta"].to_numpy(), size=(DRAWS, len(g)))
        wins = np.bincount(draws.argmax(axis=1), minlength=len(g)) / DRAWS
        out.loc[g.index] = wins
    return out


def compute(df: pd.DataFrame, dims: list[str], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    weight = np.where(df["is_imported"] == "t", IMPORTED_WEIGHT, 1.0)
    good = (df["reward_score"] >= THRESHOLD).to_numpy()
    df = df.assign(success=weight * good, failure=weight * ~good, win=good.astype(int))
    long = df.melt(
        id_vars=["organization_id", "brand_id", "product_id", "success", "failure", "reward_score"],
        value_vars=dims,
        var_name="dimension",
        value_name="value",
    ).dropna(subset=["value"])
    agg = {"success": "sum", "failure": "sum", "reward_score": ["count", "mean"]}
    brand = long.groupby(["organization_id", "brand_id", "dimension", "value"]).agg(agg)
    brand = brand.reset_index()  # product_id stays missing (NULL): brand level
    product = long.groupby(["organization_id", "brand_id", "product_id", "dimension", "value"]).agg(
        agg
    )
    scores = pd.concat([brand, product.reset_index()], ignore_index=True)
    scores.columns = [
        "_".join(c for c in col if c) if isinstance(col, tuple) else col for col in scores.columns
    ]
    scores = scores.rename(
        columns={"reward_score_count": "n", "reward_score_mean": "mean_reward"}
    ).assign(
        alpha=lambda s: 1.0 + s["success_sum"],
        beta=lambda s: 1.0 + s["failure_sum"],
    )
    scores["win_probability"] = _win_probabilities(scores, np.random.default_rng(seed))
    scores["confidence_width"] = stats.beta.ppf(0.975, scores["alpha"], scores["beta"]) - (
        stats.beta.ppf(0.025, scores["alpha"], scores["beta"])
    )
    combos: list[pd.DataFrame] = []
    for size in (2, 3):
        for group in itertools.combinations(sorted(dims), size):
            g = (
                df.dropna(subset=list(group))
                .groupby(["organization_id", "brand_id", *group])
                .agg(n=("win", "size"), s=("win", "sum"), mean_reward=("reward_score", "mean"))
                .reset_index()
            )
            g = g[g["n"] >= COMBO_MIN]
            if g.empty:
                continue
            key = pd.Series("", index=g.index)
            for i, d in enumerate(group):
                key = key + ("|" if i else "") + d + "=" + g[d].astype(str)
            combos.append(
                pd.DataFrame(
                    {
                        "organization_id": g["organization_id"],
                        "brand_id": g["brand_id"],
                        "combo_size": size,
                        "dimensions": "{" + ",".join(group) + "}",
                        "element_values": "{"
                        + g[list(group)].astype(str).agg(",".join, axis=1)
                        + "}",
                        "combo_key": key,
                        "alpha": 1.0 + g["s"],
                        "beta": 1.0 + g["n"] - g["s"],
                        "n_rewards": g["n"],
                        "mean_reward": g["mean_reward"],
                    }
                )
            )
    return scores, pd.concat(combos, ignore_index=True)


def _copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False, na_rep="")
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(sql.Identifier(table), cols)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(buf.getvalue())


def write_back(
    conn: psycopg.Connection, scores: pd.DataFrame, combos: pd.DataFrame, version: int
) -> int:
    conn.execute(
        "CREATE TEMP TABLE alt_scores (organization_id uuid, brand_id uuid, product_id uuid, "
        "dimension text, value text, alpha float8, beta float8, n int, mean_reward float8, "
        "win_probability float8, confidence_width float8) ON COMMIT DROP"
    )
    conn.execute(
        "CREATE TEMP TABLE alt_combos (organization_id uuid, brand_id uuid, combo_size int, "
        "dimensions text[], element_values text[], combo_key text, alpha float8, beta float8, "
        "n_rewards int, mean_reward float8) ON COMMIT DROP"
    )
    cols = ["organization_id", "brand_id", "product_id", "dimension", "value", "alpha", "beta"]
    cols += ["n", "mean_reward", "win_probability", "confidence_width"]
    _copy_frame(conn, "alt_scores", scores[cols])
    _copy_frame(conn, "alt_combos", combos)
    cur = conn.execute(
        """
        INSERT INTO genome.creative_element_scores AS s (
            organization_id, brand_id, product_id, element_dimension, element_value, alpha, beta,
            posterior_alpha, posterior_beta, n_rewards, mean_reward, win_probability,
            confidence_width, genome_version, updated_at
        )
        SELECT organization_id, brand_id, product_id, dimension, value, alpha, beta, alpha, beta,
               n, mean_reward, win_probability, confidence_width, %(v)s, %(now)s
        FROM alt_scores
        ON CONFLICT (brand_id, product_id, element_dimension, element_value) DO UPDATE
        SET alpha = excluded.alpha, beta = excluded.beta,
            posterior_alpha = excluded.posterior_alpha, posterior_beta = excluded.posterior_beta,
            n_rewards = excluded.n_rewards, mean_reward = excluded.mean_reward,
            win_probability = excluded.win_probability,
            confidence_width = excluded.confidence_width,
            genome_version = excluded.genome_version, updated_at = excluded.updated_at
        """,
        {"v": version, "now": data.P_NOW},
    )
    written = cur.rowcount
    conn.execute(
        """
        INSERT INTO genome.element_combo_scores AS cs (
            organization_id, brand_id, product_id, combo_size, dimensions, element_values,
            combo_key, alpha, beta, n_rewards, mean_reward, genome_version, updated_at
        )
        SELECT organization_id, brand_id, NULL, combo_size, dimensions, element_values,
               combo_key, alpha, beta, n_rewards, mean_reward, %(v)s, %(now)s
        FROM alt_combos
        ON CONFLICT (brand_id, product_id, combo_key) DO UPDATE
        SET alpha = excluded.alpha, beta = excluded.beta, n_rewards = excluded.n_rewards,
            mean_reward = excluded.mean_reward, genome_version = excluded.genome_version,
            updated_at = excluded.updated_at
        """,
        {"v": version, "now": data.P_NOW},
    )
    conn.execute("DELETE FROM genome.element_combo_scores WHERE genome_version < %s", (version,))
    return written


def alternative(url: str, dims: list[str], seed: int) -> dict[str, Any]:
    """One run of the alternative in a rolled-back transaction; times per phase."""
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        df = pull(conn, dims)
        t1 = time.perf_counter()
        scores, combos = compute(df, dims, seed)
        t2 = time.perf_counter()
        written = write_back(conn, scores, combos, 1_000_000)
        t3 = time.perf_counter()
        conn.rollback()
    return {
        "pull_s": t1 - t0,
        "compute_s": t2 - t1,
        "write_s": t3 - t2,
        "total_s": t3 - t0,
        "score_rows": written,
        "combo_rows": len(combos),
    }


def run(server: Server, rows: int, repeats: int, seed: int = 5) -> BenchResult:
    res = BenchResult("scores", {"rewards": rows, "win_probability_draws": DRAWS})
    with server.database("scores") as url:
        with psycopg.connect(url) as conn:
            tenant = data.tenant(conn, "scores", products=4)
            registry = data.element_registry(conn)
            t0 = time.perf_counter()
            data.insert_rewards(conn, tenant, rows, registry, seed=seed)
            # The alternative recomputes the one-bit Beta counts and product rows: compare it
            # with that learner (docs/learning.md#joint-learner describes the default one).
            conn.execute(
                "UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'"
            )
            conn.commit()
            res.details["generate_s"] = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        durations, first = time_in_rollback(
            url, "SELECT genome.update_scores(%s)", (data.P_NOW,), repeats
        )
        dims = sorted(registry)
        alts = [alternative(url, dims, seed) for _ in range(repeats)]
    proj_s = statistics.median(durations)
    alt_s = statistics.median(a["total_s"] for a in alts)
    res.rows.append(Row("update, all brands (median)", "s", proj_s, alt_s, "pull+pandas+write"))
    res.details |= {
        "project_s": durations,
        "project_score_rows": first[0] if first else None,
        "alternative_runs": alts,
        "element_dimensions": dims,
    }
    res.sizes["element_dimensions"] = len(dims)
    res.notes.append(
        f"{len(dims)} element dimensions of the shipped registry, so each reward also feeds "
        f"{len(list(itertools.combinations(dims, 2))) + len(list(itertools.combinations(dims, 3)))}"
        " combos; the alternative skips category priors and cold-start blending."
    )
    return res
