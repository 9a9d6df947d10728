"""Experiments: genome.analyze_experiments vs GrowthBook's gbstats Bayesian engine.

Project: one `analyze_experiments(p_now)` over every running experiment: arm totals from
Meta insights through meta_ad_mapping, sceptical Beta-Binomial posteriors, P(best), expected
loss and effect intervals by numerical integration
(docs/experiments.md#pbest-and-expected-loss), SRM, decisions, and the writes (arms,
analysis history, verdicts, causal effects). Timed in rolled-back transactions.
Alternative on the same data: pull the same per-arm totals with one query, then gbstats
(EffectBayesianABTest on ProportionStatistic, its default Bayesian engine)
for each treatment against the control, experiment by experiment; nothing written back.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

import psycopg
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.models.statistics import ProportionStatistic

from bench import data
from bench.harness import BenchResult, Row, Server, time_in_rollback

START = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
DAYS = 7
P_NOW = dt.datetime(2026, 1, 13, 6, 30, tzinfo=dt.UTC)

ARM_TOTALS_SQL = """
SELECT a.experiment_id, a.arm_index, sum(p.impressions)::bigint, sum(p.link_clicks)::bigint
FROM genome.experiments AS e
JOIN genome.experiment_arms AS a ON a.experiment_id = e.id
JOIN meta_ad_mapping AS m ON m.generated_ad_id = a.generated_ad_id
JOIN meta_ads_performance AS p ON p.meta_ad_id = m.meta_ad_id AND p.brand_id = m.brand_id
WHERE e.status = 'running' AND p.date >= e.started_at::date AND p.date <= %s::date - 1
GROUP BY a.experiment_id, a.arm_index
ORDER BY a.experiment_id, a.arm_index
"""


def populate(conn: psycopg.Connection, t: data.Tenant, n: int, arms: int, seed: int) -> None:
    """n running link_ctr experiments on hook_type with `arms` arms (arm 0 the control),
    each arm one ad with DAYS days of insights; a third of them with a real effect."""
    values = data.element_registry(conn)["hook_type"][:arms]
    p = {
        "n": n, "arms": arms, "seed": seed, "org": t.organization_id, "brand": t.brand_id,
        "run": t.run_ids[0], "vals": values, "start": START, "days": DAYS,
    }  # fmt: skip
    conn.execute("SELECT setseed(%s)", ((seed % 1000) / 1000.0,))
    conn.execute(
        """
        INSERT INTO genome.experiments (
            id, organization_id, brand_id, name, hypothesis, test_variable, status,
            primary_metric, baseline_rate, required_trials_per_arm, significance_level,
            max_days, started_at
        )
        SELECT md5(%(seed)s::text || ':exp:' || e)::uuid, %(org)s, %(brand)s, 'bench ' || e,
               'bench', 'hook_type', 'running', 'link_ctr', 0.012, 60000, 0.90, 14, %(start)s
        FROM generate_series(1, %(n)s) AS e
        """,
        p,
    )
    conn.execute(
        """
        CREATE TEMP TABLE bench_arms AS
        SELECT e, a, md5(%(seed)s::text || ':exp:' || e)::uuid AS experiment_id,
               md5(%(seed)s::text || ':arm:' || e || ':' || a)::uuid AS ad_id,
               'bx-' || e || '-' || a AS meta_ad_id,
               0.012 * (1 + CASE WHEN e %% 3 = 0 THEN 0.15 * a ELSE 0 END) AS ctr
        FROM generate_series(1, %(n)s) AS e, generate_series(0, %(arms)s - 1) AS a
        """,
        p,
    )
    conn.execute(
        """
        INSERT INTO generated_ads (id, ad_run_id, prompt_index, canvas_size, element_tags,
                                   final_status, element_tags_source)
        SELECT ad_id, %(run)s, 1, 'bench-' || e || '-' || a,
               jsonb_build_object('hook_type', (%(vals)s::text[])[a + 1]), 'approved', 'plan'
        FROM bench_arms
        """,
        p,
    )
    conn.execute(
        """
        INSERT INTO genome.experiment_arms (experiment_id, arm_name, arm_index,
            test_variable_value, element_tags, generated_ad_id, planned_share)
        SELECT experiment_id, CASE a WHEN 0 THEN 'control' ELSE 'treatment ' || a END, a,
               (%(vals)s::text[])[a + 1],
               jsonb_build_object('hook_type', (%(vals)s::text[])[a + 1]), ad_id, 1.0 / %(arms)s
        FROM bench_arms
        """,
        p,
    )
    conn.execute(
        "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id, "
        "meta_campaign_id) SELECT ad_id, meta_ad_id, 'bench-acct', 'bench-exp' FROM bench_arms"
    )
    conn.execute(
        """
        INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id,
            date, spend, impressions, link_clicks, purchases, purchase_value, brand_id,
            campaign_objective)
        SELECT 'bench-acct', b.meta_ad_id, 'bench-exp', %(start)s::date + d, 20, i.imp,
               floor(i.imp * b.ctr + random() * 3)::int, 0, 0, %(brand)s, 'OUTCOME_TRAFFIC'
        FROM bench_arms AS b
        CROSS JOIN generate_series(0, %(days)s - 1) AS d
        CROSS JOIN LATERAL (SELECT 1500 + floor(random() * 500)::int AS imp) AS i
        """,
        p,
    )
    conn.execute("DROP TABLE bench_arms")


def gbstats_analysis(conn: psycopg.Connection) -> dict[str, Any]:
    t0 = time.perf_counter()
    totals = conn.execute(ARM_TOTALS_SQL, (P_NOW,)).fetchall()
    t1 = time.perf_counter()
    by_exp: dict[Any, list[tuple[int, int, int]]] = {}
    for exp, arm, impressions, clicks in totals:
        by_exp.setdefault(exp, []).append((arm, impressions, clicks))
    config = EffectBayesianConfig(difference_type="relative")
    results = 0
    winners = 0
    for arms in by_exp.values():
        arms.sort()
        control = ProportionStatistic(sum=arms[0][2], n=arms[0][1])
        for _, impressions, clicks in arms[1:]:
            test = EffectBayesianABTest(
                control, ProportionStatistic(sum=clicks, n=impressions), config
            )
            out = test.compute_result()
            results += 1
            winners += out.chance_to_win > 0.95
    t2 = time.perf_counter()
    return {
        "pull_s": t1 - t0,
        "compute_s": t2 - t1,
        "total_s": t2 - t0,
        "experiments": len(by_exp),
        "comparisons": results,
        "chance_to_win_above_95": winners,
    }


def run(
    server: Server, experiments: int, arms: int, draws: int, repeats: int, seed: int = 13
) -> BenchResult:
    res = BenchResult(
        "experiments",
        {"experiments": experiments, "arms": arms, "mc_draws": draws, "days": DAYS},
    )
    with server.database("experiments") as url:
        with psycopg.connect(url) as conn:
            tenant = data.tenant(conn, "experiments")
            conn.execute(
                "UPDATE genome.settings SET value = to_jsonb(%s::int) "
                "WHERE key = 'experiment_mc_draws'",
                (draws,),
            )
            t0 = time.perf_counter()
            populate(conn, tenant, experiments, arms, seed)
            conn.commit()
            res.details["generate_s"] = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        durations, first = time_in_rollback(
            url, "SELECT genome.analyze_experiments(%s)", (P_NOW,), repeats
        )
        with psycopg.connect(url, autocommit=True) as conn:
            alts = [gbstats_analysis(conn) for _ in range(repeats)]
    proj_s = statistics.median(durations)
    alt_s = statistics.median(a["total_s"] for a in alts)
    res.rows.append(
        Row("all experiments, one day (median)", "s", proj_s, alt_s, "gbstats Bayesian")
    )
    res.rows.append(
        Row(
            "per experiment",
            "ms",
            1000 * proj_s / experiments,
            1000 * alt_s / experiments,
            "gbstats Bayesian",
        )
    )
    res.details |= {
        "project_s": durations,
        "project_experiments_analysed": first[0] if first else None,
        "alternative_runs": alts,
    }
    res.notes.append(
        "gbstats compares each treatment with the control in closed form (Gaussian "
        "approximation) and writes nothing; analyze_experiments integrates P(best) across all "
        "arms, expected loss and the effect intervals numerically (the values "
        f"{draws:,} Monte Carlo draws would approach) and writes arms, history, verdicts and "
        "causal effects."
    )
    return res
