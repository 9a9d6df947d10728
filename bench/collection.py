"""Reward collection: genome.collect_rewards throughput (no alternative; rows/s).

Ads x days of Meta insights linked through meta_ad_mapping; one `collect_rewards(p_now)`
after every ad has matured turns them into normalized, objective-weighted rewards. Timed
in transactions that are rolled back, so every run collects the same data from scratch.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import psycopg

from bench import data
from bench.harness import BenchResult, Row, Server, time_in_rollback


def run(server: Server, ads: int, days: int, repeats: int, seed: int = 9) -> BenchResult:
    res = BenchResult("collection", {"ads": ads, "days": days, "performance_rows": ads * days})
    # Every ad's last day plus the slowest maturation window (ROAS, 10 days) has passed.
    p_now = dt.datetime.combine(
        data.WEEK_STARTS[0] + dt.timedelta(days=days + 4 + 11), dt.time(12), tzinfo=dt.UTC
    )
    with server.database("collection") as url:
        with psycopg.connect(url) as conn:
            tenant = data.tenant(conn, "collection", products=4)
            t0 = time.perf_counter()
            perf_rows = data.insert_performance(
                conn, tenant, ads, days, data.element_registry(conn), seed=seed
            )
            conn.commit()
            res.details["generate_s"] = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        durations, first = time_in_rollback(
            url, "SELECT genome.collect_rewards(%s)", (p_now,), repeats
        )
    seconds = statistics.median(durations)
    rewards = int(first[0]) if first else 0
    res.rows.append(Row("performance rows/s", "rows/s", perf_rows / seconds, lower_is_better=False))
    res.rows.append(Row("rewards written/s", "rows/s", rewards / seconds, lower_is_better=False))
    res.rows.append(Row("one collect_rewards (median)", "s", seconds))
    res.details |= {"project_s": durations, "rewards": rewards, "p_now": p_now.isoformat()}
    if rewards != ads:
        res.notes.append(f"collected {rewards} rewards for {ads} ads")
    return res
