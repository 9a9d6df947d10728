"""bench/: the harness's arithmetic, and a smoke run of every benchmark at tiny sizes that
checks the JSON it writes (shape and consistency only: timings are never asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as bench_main
from bench.harness import BenchResult, Row, Server, format_table, summarize_ms

TINY = [
    "--repeats", "1",
    "--sel-dimensions", "3", "--sel-values", "4", "--sel-calls", "20", "--sel-rewards", "60",
    "--attr-rows", "400", "--score-rows", "300", "--joint-rows", "300", "--joint-brands", "3",
    "--sel-plan-ads", "3", "--rls-ads", "600", "--rls-brands", "12", "--rls-brands-per-org", "3",
    "--rls-reads", "5",
    "--collect-ads", "30", "--collect-days", "4",
    "--exp-experiments", "6", "--exp-arms", "3", "--exp-draws", "500",
    "--queue-jobs", "30", "--queue-agents", "1", "2", "--queue-latency-samples", "4",
    "--startup-starts", "1",
    "--learn-seeds", "2", "--learn-days", "6", "--learn-ads-per-day", "2",
    "--learn-families", "additive",
    "--demo-args=--days 1 --brands 1 --ads-per-day 2",
]  # fmt: skip


def test_row_ratio_and_verdict_for_times_rates_and_memory() -> None:
    faster = Row("t", "s", project=1.0, alternative=3.0, alternative_name="alt")
    assert faster.ratio == pytest.approx(3.0)
    assert faster.verdict == "project wins x3.00"
    slower = Row("t", "s", project=2.0, alternative=1.0, alternative_name="alt")
    assert slower.ratio == pytest.approx(0.5)
    assert slower.verdict == "PROJECT LOSES to alt (x2.00 slower)"
    rate = Row("r", "jobs/s", project=100.0, alternative=400.0, alternative_name="alt",
               lower_is_better=False)  # fmt: skip
    assert rate.ratio == pytest.approx(0.25)
    assert rate.verdict == "PROJECT LOSES to alt (x4.00 lower)"
    memory = Row("m", "bytes", project=2e6, alternative=1e6, alternative_name="alt")
    assert memory.verdict == "PROJECT LOSES to alt (x2.00 more memory)"
    alone = Row("w", "s", project=5.0)
    assert alone.ratio is None and alone.verdict == "no alternative"
    broken = Row("z", "s", project=0.0, alternative=1.0, alternative_name="alt")
    assert broken.ratio is None and broken.verdict == "not comparable"


def test_summarize_ms_uses_nearest_rank_percentiles() -> None:
    s = summarize_ms([i / 1000 for i in range(1, 101)])  # 1 .. 100 ms
    assert s["p50"] == pytest.approx(50.0)
    assert s["p99"] == pytest.approx(99.0)
    assert s["min"] == pytest.approx(1.0) and s["max"] == pytest.approx(100.0)
    assert s["mean"] == pytest.approx(50.5)
    assert summarize_ms([0.002])["p99"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        summarize_ms([])


def test_format_table_shows_losses_errors_and_notes() -> None:
    ok = BenchResult("one", {}, rows=[Row("t", "s", 2.0, 1.0, "alt")], notes=["a note"])
    bad = BenchResult("two", {}, error="RuntimeError: boom")
    text = format_table([ok, bad])
    assert "PROJECT LOSES to alt" in text
    assert "ERROR" in text and "boom" in text
    assert "- one: a note" in text


def _check_row(row: dict[str, Any]) -> None:
    assert set(row) >= {"metric", "unit", "project", "alternative", "ratio", "verdict"}
    assert row["project"] is not None and row["project"] > 0, row
    if row["alternative"] is None:
        assert row["ratio"] is None and row["verdict"] == "no alternative"
        return
    expected = (
        row["alternative"] / row["project"]
        if row["lower_is_better"]
        else row["project"] / row["alternative"]
    )
    assert row["ratio"] == pytest.approx(expected)
    assert row["verdict"].startswith("project wins" if expected >= 1 else "PROJECT LOSES")


@pytest.mark.slow
def test_every_benchmark_runs_at_tiny_sizes_and_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    tag = f"test{os.getpid()}"
    code = bench_main.main([*TINY, "--out", str(out), "--tag", tag])
    report = json.loads(out.read_text())
    errors = {b["name"]: b["error"] for b in report["benchmarks"] if b["error"]}
    assert code == 0 and not errors, errors
    by_name = {b["name"]: b for b in report["benchmarks"]}
    assert list(by_name) == list(bench_main.NAMES)
    for bench in by_name.values():
        assert bench["rows"], bench["name"]
        for row in bench["rows"]:
            _check_row(row)
    alternatives = {
        name: {r["alternative_name"] for r in b["rows"] if r["alternative_name"]}
        for name, b in by_name.items()
    }
    assert alternatives["selection"] == {
        "psycopg fetch + numpy draw",
        "MABWiser TS predict",
        "psycopg fetch + numpy draws + INSERT",  # plan_ads, per ad
        "fetch + numpy draws + the ads, their jobs and the attempts in one statement",
    }
    assert alternatives["attribution"] == {"psycopg + pandas + statsmodels"}
    assert alternatives["scores"] == {"pull+pandas+write"}
    assert alternatives["experiments"] == {"gbstats Bayesian"}
    assert alternatives["queue"] == {"procrastinate"}
    assert alternatives["startup"] == {"procrastinate"}
    assert alternatives["learning"] == {"MABWiser TS", "joint logistic TS", "random"}
    assert not alternatives["collection"] and not alternatives["demo"]
    # The alternatives computed the same thing on the same data.
    attr = by_name["attribution"]["details"]
    assert attr["max_relative_diff_mh_odds_ratio"] < 1e-6
    assert attr["strata_per_value"] == 16
    scores = by_name["scores"]["details"]
    # The project writes a row for every registered value, the alternative for seen ones.
    assert 0 < scores["alternative_runs"][0]["score_rows"] <= scores["project_score_rows"]
    exp = by_name["experiments"]["details"]
    assert exp["project_experiments_analysed"] == exp["alternative_runs"][0]["experiments"] == 6
    assert by_name["collection"]["details"]["rewards"] == 30
    queue = by_name["queue"]["details"]
    for side in ("project", "procrastinate"):
        assert [t["done"] for t in queue[side]["throughput"]] == [30, 30]
        assert queue[side]["latency_ms"]["n"] == 4
    startup = by_name["startup"]["details"]
    for side in ("agent", "procrastinate"):
        assert startup[side]["ready_ms"]["n"] == startup[side]["cpu_ms"]["n"] == 1
        assert 0 < startup[side]["cpu_ms"]["p50"] <= startup[side]["ready_ms"]["p50"] * 2
    learn = by_name["learning"]["details"]["additive"]
    for policy in ("project", "mabwiser", "joint_ts", "random", "oracle"):
        assert len(learn[policy]["per_seed_pct"]) == 2
    assert learn["oracle"]["pct_oracle_last_third"]["mean"] == pytest.approx(100.0)
    assert learn["job_runs"]["genome_collect"] == 2 * 6
    # Off-policy estimates of uniform elements from the project's logged propensities.
    assert len(learn["off_policy"]) == 2 * 2
    assert all(c["n"] > 0 and c["truth"] > 0 for c in learn["off_policy"])
    assert by_name["demo"]["details"]["agents_seen"] >= 1
    # Every bench database of the run is gone.
    assert not Server.local(tmp_path, tag).leftovers()


def test_selection_of_benchmarks_and_default_sizes() -> None:
    parse = bench_main.build_parser().parse_args
    assert bench_main.selected(parse([])) == list(bench_main.NAMES)
    assert "demo" not in bench_main.selected(parse(["--skip-demo"]))
    assert bench_main.selected(parse(["--only", "queue", "selection"])) == ["selection", "queue"]
    assert bench_main.selected(parse(["--only", "demo", "--skip-demo"])) == []
    args = parse([])
    assert args.attr_rows == 1_000_000 and args.score_rows == 1_000_000
    assert args.queue_jobs == 20_000 and args.queue_agents == [1, 2, 4]
    assert args.startup_starts == 3
    assert args.exp_experiments == 1000 and args.exp_arms == 4 and args.exp_draws == 10_000
    assert (args.sel_dimensions, args.sel_values, args.sel_calls) == (8, 8, 2000)


def test_the_same_writes_planner_leaves_what_plan_ads_leaves(db: Any) -> None:
    """bench/selection.py's second client-side planner is compared with plan_ads as doing
    the same writes: each ad with its tags, propensities and pre-generation score, its
    generate job queued, the run's attempts counted."""
    import numpy as np

    from bench import data
    from bench.selection import _numpy_plan_same_writes
    from sim import factories

    registry = data.make_registry(db, 3, 4)
    tenant = data.tenant(db, "same_writes")
    data.insert_rewards(db, tenant, 60, registry, seed=3)
    db.execute("SELECT genome.update_scores(%s)", (data.P_NOW,))
    runs = [factories.ad_run(db, tenant.product_ids[0]) for _ in range(2)]
    db.execute("SELECT count(*) FROM genome.plan_ads(%s, 4, %s)", (runs[0], data.P_NOW))
    _numpy_plan_same_writes(db, tenant.brand_id, runs[1], 4, np.random.default_rng(1))

    def left(run: Any) -> tuple[Any, ...]:
        return db.execute(
            "SELECT r.attempts_count, count(g.id), count(j.id) FILTER (WHERE j.kind = 'generate'"
            " AND j.status = 'queued'), bool_and(g.pre_gen_score BETWEEN 0 AND 1), "
            "bool_and((SELECT count(*) FROM jsonb_object_keys(g.element_propensities -> "
            "'propensities')) = 3), bool_and((SELECT count(*) FROM "
            "jsonb_object_keys(g.element_tags) AS k WHERE k IN (SELECT dimension FROM "
            "genome.element_dimensions WHERE kind = 'element')) = 3) "
            "FROM public.ad_runs AS r JOIN public.generated_ads AS g ON g.ad_run_id = r.id "
            "LEFT JOIN genome.agent_jobs AS j ON j.generated_ad_id = g.id "
            "WHERE r.id = %s GROUP BY r.attempts_count",
            (run,),
        ).fetchone()

    assert left(runs[0]) == left(runs[1]) == (4, 4, 4, True, True, True)
