"""`python -m bench`: run the benchmarks, print the table, write out/bench.json."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import psutil

from agents.settings import project_root
from bench import (
    attribution,
    collection,
    demo,
    experiments,
    growth,
    jobqueue,
    joint,
    learning,
    rls,
    scores,
    selection,
    startup,
)
from bench.harness import BenchResult, Server, format_table

NAMES = (
    "selection",
    "attribution",
    "scores",
    "joint",
    "collection",
    "experiments",
    "queue",
    "startup",
    "rls",
    "learning",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", nargs="+", choices=NAMES, help="run only these benchmarks")
    p.add_argument("--skip", nargs="+", choices=NAMES, default=[], help="skip these")
    p.add_argument("--skip-demo", action="store_true", help="do not run the demo benchmark")
    p.add_argument("--out", type=Path, default=project_root() / "out" / "bench.json")
    p.add_argument("--tag", help="database name tag (default: the process id)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of batch functions")
    p.add_argument(
        "--growth",
        action="store_true",
        help="run attribution, scores and experiments at the --growth-scale sizes, print each "
        "path's growth exponent and write growth.png (bench/growth.py)",
    )
    p.add_argument(
        "--growth-scale",
        type=float,
        nargs="+",
        default=[0.01, 0.1, 1.0],
        help="sizes as fractions of each benchmark's base size",
    )
    g = p.add_argument_group("sizes")
    g.add_argument("--sel-dimensions", type=int, default=8)
    g.add_argument("--sel-values", type=int, default=8)
    g.add_argument("--sel-calls", type=int, default=2000)
    g.add_argument("--sel-rewards", type=int, default=2000, help="rewards behind the scores")
    g.add_argument("--sel-plan-ads", type=int, default=10, help="ads per plan_ads call")
    g.add_argument("--attr-rows", type=int, default=1_000_000, help="reward rows (attribution)")
    g.add_argument("--score-rows", type=int, default=1_000_000, help="rewards (score update)")
    g.add_argument("--joint-rows", type=int, default=1_000_000, help="rewards (joint learner)")
    g.add_argument("--joint-brands", type=int, default=100, help="brands the rewards spread over")
    g.add_argument("--collect-ads", type=int, default=100_000)
    g.add_argument("--collect-days", type=int, default=30)
    g.add_argument("--exp-experiments", type=int, default=1000)
    g.add_argument("--exp-arms", type=int, default=4)
    g.add_argument("--exp-draws", type=int, default=10_000)
    g.add_argument("--queue-jobs", type=int, default=20_000)
    g.add_argument("--queue-agents", type=int, nargs="+", default=[1, 2, 4])
    g.add_argument("--queue-latency-samples", type=int, default=200)
    g.add_argument("--rls-ads", type=int, default=1_000_000, help="generated_ads (rls)")
    g.add_argument("--rls-brands", type=int, default=10_000, help="brands (rls)")
    g.add_argument("--rls-brands-per-org", type=int, default=5)
    g.add_argument("--rls-reads", type=int, default=200, help="timed reads per role (rls)")
    g.add_argument("--startup-starts", type=int, default=3, help="process starts per system")
    g.add_argument("--learn-seeds", type=int, default=10, help="seeds per market family")
    g.add_argument("--learn-days", type=int, default=50, help="virtual days per run")
    g.add_argument("--learn-ads-per-day", type=int, default=6, help="ads planned per brand a day")
    g.add_argument(
        "--learn-families",
        nargs="+",
        choices=list(learning.FAMILIES),
        default=list(learning.FAMILIES),
        help="market families (sim/markets.py)",
    )
    g.add_argument("--demo-args", default="", help="extra `genome demo` arguments")
    return p


def _runners(args: argparse.Namespace) -> dict[str, Callable[[Server], BenchResult]]:
    return {
        "selection": lambda s: selection.run(
            s,
            selection.SelectionSizes(
                dimensions=args.sel_dimensions,
                values=args.sel_values,
                calls=args.sel_calls,
                rewards=args.sel_rewards,
                plan_ads=args.sel_plan_ads,
            ),
        ),
        "attribution": lambda s: attribution.run(s, args.attr_rows, args.repeats),
        "scores": lambda s: scores.run(s, args.score_rows, args.repeats),
        "joint": lambda s: joint.run(s, args.joint_rows, args.repeats, args.joint_brands),
        "collection": lambda s: collection.run(
            s, args.collect_ads, args.collect_days, args.repeats
        ),
        "experiments": lambda s: experiments.run(
            s, args.exp_experiments, args.exp_arms, args.exp_draws, args.repeats
        ),
        "queue": lambda s: jobqueue.run(
            s, args.queue_jobs, tuple(args.queue_agents), args.queue_latency_samples
        ),
        "startup": lambda s: startup.run(s, args.startup_starts),
        "rls": lambda s: rls.run(
            s, args.rls_ads, args.rls_brands, args.rls_brands_per_org, args.rls_reads
        ),
        "learning": lambda s: learning.run(
            s,
            learning.LearnSizes(
                seeds=args.learn_seeds,
                days=args.learn_days,
                ads_per_day=args.learn_ads_per_day,
                families=tuple(args.learn_families),
            ),
        ),
        "demo": lambda s: demo.run(s, args.demo_args.split()),
    }


# Growth: the batch paths and the size each one scales (bench/growth.py).
GROWTH = ("attribution", "scores", "joint", "experiments")


def _growth_runners(args: argparse.Namespace) -> dict[str, tuple[str, int, Callable]]:
    return {
        "attribution": (
            "reward rows",
            args.attr_rows,
            lambda s, n: attribution.run(s, n, args.repeats),
        ),
        "scores": ("rewards", args.score_rows, lambda s, n: scores.run(s, n, args.repeats)),
        "joint": (
            "rewards",
            args.joint_rows,
            lambda s, n: joint.run(s, n, args.repeats, args.joint_brands),
        ),
        "experiments": (
            "experiments",
            args.exp_experiments,
            lambda s, n: experiments.run(s, n, args.exp_arms, args.exp_draws, args.repeats),
        ),
    }


def run_growth(args: argparse.Namespace, server: Server) -> int:
    names = [n for n in selected(args) if n in GROWTH]
    found: list[growth.Series] = []
    for name in names:
        size_name, base, fn = _growth_runners(args)[name]
        print(f"-- growth {name} at {args.growth_scale} x {base:,} {size_name} ...", flush=True)
        found += growth.run(name, size_name, base, args.growth_scale, lambda n, f=fn: f(server, n))
    server.close()
    for name in server.leftovers():
        server.drop(name)
    png = growth.plot(found, args.out.parent / "growth.png")
    out = args.out.with_name("growth.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([s.to_json() for s in found], indent=1))
    print("\n" + growth.format_growth(found))
    print(f"\nwritten: {out}, {png}")
    return 0


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": os.getloadavg(),
    }


def selected(args: argparse.Namespace) -> list[str]:
    """The benchmarks to run, in the fixed order."""
    skip = set(args.skip) | ({"demo"} if args.skip_demo else set())
    return [n for n in NAMES if n in (args.only or NAMES) and n not in skip]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = selected(args)
    server = Server.local(args.out.parent, args.tag)
    if args.growth:
        return run_growth(args, server)
    runners = _runners(args)
    results: list[BenchResult] = []
    started = dt.datetime.now(dt.UTC)
    for name in names:
        print(f"-- {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            res = runners[name](server)
        except Exception as exc:  # one failing benchmark must not hide the others
            res = BenchResult(name, {}, error=f"{type(exc).__name__}: {exc}")
            res.details["traceback"] = traceback.format_exc()[-4000:]
        res.seconds = time.perf_counter() - t0
        results.append(res)
        print(format_table([res]), flush=True)
    server.close()
    leftovers = server.leftovers()
    for name in leftovers:
        server.drop(name)
    report = {
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "command": ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])],
        "machine": machine(),
        "benchmarks": [r.to_json() for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print("\n" + format_table(results))
    print(f"\nwritten: {args.out}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
