"""`genome demo` (also `python -m sim.demo`): the main job on the embedded default.

A simulated market (sim/) plays Meta, real agent processes with the offline provider play
the models, and the real database does all the learning. Each virtual day: plan ads
through genome.plan_ads, let the agents generate, scan, review and embed them, launch the
approved ones in the simulator, write the day's performance, and call every scheduled job
through genome.run_job(name, p_now) on its schedule. Beside V2, a shadow MABWiser policy
(sim.policies.DemoShadow) and the random twin choose as many ads a day on the same truth,
for the report to compare. Capabilities added later (experiments,
evolution, calibration, monitoring) show up here through run_job without changing this file.

The demo stays in its sandbox: it writes a fake organization, brands, ads and Meta rows, so
it runs in a database it creates on the project cluster (genome_demo), whatever
GENOME_DATABASE_URL says. Another server only when named with --database-url together with
--i-know-this-writes-fake-data (docs/operations.md#demo-sandbox).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import psycopg
from croniter import croniter
from psycopg.conninfo import conninfo_to_dict

from agents import cluster
from agents.migrate import migrate
from agents.settings import local_cluster, project_root
from sim.baselines import TwinMarkets
from sim.history import DayRecord, record_day, save_history
from sim.market import Market
from sim.marketer import Marketer
from sim.policies import DemoShadow, read_maturation
from sim.report import build_report, format_summary
from sim.truth import Truth, build_truth, load_dimensions, load_reward_weights

DEMO_DBNAME = "genome_demo"
# The flag that lets the demo write its fake data into a database the user names.
FAKE_DATA_FLAG = "--i-know-this-writes-fake-data"
START_DAY = dt.date(2026, 1, 5)  # a Monday: weekly jobs run on Mondays
PLAN_HOUR = 9
# _wait_for_pipeline polls faster once at most this many planned ads await their decision.
FEW_PENDING = 2


class DemoError(RuntimeError):
    """The demo could not run (database, agents or a stuck pipeline)."""


@dataclass
class DemoConfig:
    days: int = 90
    brands: int = 3
    ads_per_day: int = 6
    seed: int = 7
    out: Path = field(default_factory=lambda: project_root() / "out")
    agents: int = 2
    concurrency: int = 2
    provider: str = "offline"
    fresh: bool = True
    day_timeout: float = 120.0
    quiet: bool = False
    dbname: str = DEMO_DBNAME
    # Another server instead of the sandbox: honoured only with writes_fake_data_confirmed.
    database_url: str | None = None
    writes_fake_data_confirmed: bool = False


@dataclass
class DemoResult:
    summary: dict[str, object]
    history: list[DayRecord]
    dsn: str
    planned: int
    finished: int
    job_runs: dict[str, int]


def demo_database(
    fresh: bool,
    dbname: str = DEMO_DBNAME,
    url: str | None = None,
    confirmed: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """The demo's database: `dbname` on the project cluster, created here (recreated when
    `fresh`); GENOME_DATABASE_URL is not used. `url` (never dropped) only when `confirmed`."""
    if url is not None:
        if not confirmed:
            raise DemoError(
                f"the demo writes a fake organization, brands, ads and Meta rows; to write "
                f"them into {_server(url)} add {FAKE_DATA_FLAG} (without --database-url it "
                "runs in its own database on the project cluster)"
            )
        if fresh:
            log("--fresh does not apply to --database-url: that database is never dropped")
        return url
    if os.environ.get("GENOME_DATABASE_URL"):
        log(
            f"GENOME_DATABASE_URL is set: the demo does not use it and runs in its own "
            f"database {dbname} on the project cluster (--database-url URL {FAKE_DATA_FLAG} "
            "to write its fake data elsewhere)"
        )
    paths = local_cluster()
    cluster.up(paths, "postgres")
    admin = paths.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return paths.url(dbname)


def _server(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the database named by --database-url"
    where = info.get("host") or "the local socket"
    return f"database {info.get('dbname', '?')} on {where}"


class AgentPool:
    """Real agent processes (`genome agents run`), stopped gracefully with SIGTERM."""

    def __init__(self, dsn: str, count: int, concurrency: int, provider: str, storage: Path):
        self.procs: list[subprocess.Popen[bytes]] = []
        env = dict(os.environ)
        env["GENOME_DATABASE_URL"] = dsn
        env["GENOME_STORAGE_DIR"] = str(storage)
        # the demo's images stay in its own directory, whatever store the shell names
        env.pop("GENOME_STORAGE_URL", None)
        # the offline agents share their measurements here (OfflineAdWorld's shared_dir,
        # agents.providers.offline.models.SHARED_DIR_ENV); emptied, as each run's ads are new
        shared = storage.parent / "offline-cache"
        shutil.rmtree(shared, ignore_errors=True)
        env["GENOME_OFFLINE_CACHE_DIR"] = str(shared)
        self.log_path = storage.parent / "agents.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "agents.cli",
                        "agents",
                        "run",
                        "--provider",
                        provider,
                        "--concurrency",
                        str(concurrency),
                    ],
                    env=env,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                )
            )

    def check(self) -> None:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            raise DemoError(
                f"{len(dead)} agent process(es) exited (code {dead[0].returncode}); "
                f"see {self.log_path}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._log.close()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def _plan_day(
    conn: psycopg.Connection, market: Market, day: dt.date, cfg: DemoConfig
) -> dict[int, list[UUID]]:
    planned: dict[int, list[UUID]] = {}
    for h in market.brands:
        run_id = conn.execute(
            "INSERT INTO ad_runs (product_id, max_attempts, created_at) VALUES (%s, %s, %s) "
            "RETURNING id",
            (h.product_id, cfg.ads_per_day, _at(day, PLAN_HOUR)),
        ).fetchone()[0]  # type: ignore[index]
        seed = (cfg.seed * 100_003 + day.toordinal()) * 101 + h.index
        planned[h.index] = [
            r[0]
            for r in conn.execute(
                "SELECT genome.plan_ads(%s, %s, %s, %s)",
                (run_id, cfg.ads_per_day, _at(day, PLAN_HOUR), seed),
            )
        ]
    return planned


def _wait_for_pipeline(conn: psycopg.Connection, pool: AgentPool, timeout: float) -> None:
    """Until no planned ad waits for its final status and no agent job is open: the day's
    ads and any that scheduled jobs planned (winner evolution, refreshes)."""
    deadline = time.monotonic() + timeout
    while True:
        # Index probes (pending ads, queued jobs, running jobs: each has its index), not a
        # test of every ad the demo ever planned: this runs every 50 ms while the agents
        # work (the count took 3.4 ms a poll by day 90). Pending ads are counted up to
        # FEW_PENDING + 1 only, for the poll interval below.
        pending, busy = conn.execute(
            """
            SELECT p.n, p.n > 0
                OR EXISTS (SELECT 1 FROM genome.agent_jobs AS j
                           INNER JOIN generated_ads AS g ON g.id = j.generated_ad_id
                           WHERE j.status = 'queued' AND g.element_tags_source = 'plan')
                OR EXISTS (SELECT 1 FROM genome.agent_jobs AS j
                           INNER JOIN generated_ads AS g ON g.id = j.generated_ad_id
                           WHERE j.status = 'running' AND g.element_tags_source = 'plan')
            FROM (SELECT count(*) AS n
                  FROM (SELECT 1 FROM generated_ads AS g
                        WHERE g.final_status = 'pending' AND g.element_tags_source = 'plan'
                        LIMIT %s) AS x) AS p
            """,
            (FEW_PENDING + 1,),
        ).fetchone()  # type: ignore[misc]
        if not busy:
            return
        pool.check()
        if time.monotonic() > deadline:
            open_ads = conn.execute(
                """
                SELECT count(*) FROM generated_ads AS g
                WHERE g.element_tags_source = 'plan'
                  AND (g.final_status = 'pending'
                       OR EXISTS (SELECT 1 FROM genome.agent_jobs AS j
                                  WHERE j.generated_ad_id = g.id
                                    AND j.status IN ('queued', 'running')))
                """
            ).fetchone()[0]  # type: ignore[index]
            raise DemoError(f"{open_ads} ads still in the pipeline after {timeout:.0f}s")
        # The day's last few ads have a few stages of tens of ms left, and every ms this
        # loop sleeps past their end is a ms of the day (half a 50 ms poll a day was about
        # 2 s of the 90-day demo); polling every 10 ms only then costs the agents nothing.
        time.sleep(0.05 if pending > FEW_PENDING else 0.01)


def _unlaunched_approved(conn: psycopg.Connection) -> dict[UUID, list[UUID]]:
    """Approved ads not yet live, by brand (the day's plan and anything jobs planned)."""
    out: dict[UUID, list[UUID]] = {}
    for ad_id, brand_id in conn.execute(
        """
        SELECT g.id, p.brand_id FROM generated_ads AS g
        JOIN ad_runs AS r ON r.id = g.ad_run_id JOIN products AS p ON p.id = r.product_id
        WHERE g.final_status = 'approved' AND g.element_tags_source = 'plan'
          AND NOT EXISTS (SELECT 1 FROM meta_ad_mapping AS m WHERE m.generated_ad_id = g.id)
        ORDER BY g.created_at, g.prompt_index
        """
    ):
        out.setdefault(brand_id, []).append(ad_id)
    return out


def _jobs_due(conn: psycopg.Connection, day: dt.date) -> list[tuple[str, dt.datetime]]:
    """The scheduled jobs of genome.job_schedules due on `day`, each with its first due time
    that day, in the order pg_cron runs them (time, then day_order). The cron expressions
    are the ones pg_cron runs, evaluated in virtual time. A job due more often than daily
    (reap_jobs, every minute) runs once: the demo's agents are idle by then."""
    start = _at(day, 0)
    due = []
    for name, schedule, order in conn.execute(
        "SELECT job_name, schedule, day_order FROM genome.job_schedules"
    ):
        first = croniter(schedule, start - dt.timedelta(seconds=1)).get_next(dt.datetime)
        if first.date() == day:
            due.append((first, order, name))
    return [(name, first) for first, _, name in sorted(due)]


def _run_jobs(conn: psycopg.Connection, day: dt.date, counts: dict[str, int]) -> list[str]:
    """The jobs due the next day, each with p_now = its due time, run right after the
    day's Meta sync (so before the next day's planning even when due later, as the weekly
    ones are); returns problems worth showing."""
    problems = []
    for name, p_now in _jobs_due(conn, day + dt.timedelta(days=1)):
        out = conn.execute("SELECT genome.run_job(%s, %s)", (name, p_now)).fetchone()[0]  # type: ignore[index]
        counts[name] = counts.get(name, 0) + 1
        if out["status"] == "failed":
            problems.append(f"{name}: {out.get('error')}")
    return problems


def _start_deployed_experiments(conn: psycopg.Connection, p_now: dt.datetime) -> int:
    """The app's part: an experiment whose every arm ad is live starts running."""
    rows = conn.execute(
        """
        SELECT e.id FROM genome.experiments AS e
        WHERE e.status = 'deploying'
          AND NOT EXISTS (
              SELECT 1 FROM genome.experiment_arms AS a
              WHERE a.experiment_id = e.id
                AND NOT EXISTS (SELECT 1 FROM meta_ad_mapping AS m
                                WHERE m.generated_ad_id = a.generated_ad_id))
        """
    ).fetchall()
    for (exp_id,) in rows:
        conn.execute("SELECT genome.start_experiment(%s, NULL, %s)", (exp_id, p_now))
    return len(rows)


def _progress(day_i: int, cfg: DemoConfig, conn: psycopg.Connection, started: float) -> str:
    row = conn.execute(
        """
        SELECT
            (SELECT count(*) FROM generated_ads WHERE element_tags_source = 'plan'),
            (SELECT count(*) FROM generated_ads WHERE final_status = 'approved'),
            (SELECT count(*) FROM genome.creative_element_rewards),
            (SELECT coalesce(max(genome_version), 0) FROM genome.genome_state)
        """
    ).fetchone()
    assert row is not None
    width = 30
    done = int(width * (day_i + 1) / cfg.days)
    return (
        f"\r[{'#' * done}{'.' * (width - done)}] day {day_i + 1}/{cfg.days} "
        f"planned {row[0]} approved {row[1]} rewards {row[2]} genome v{row[3]} "
        f"{time.monotonic() - started:5.0f}s"
    )


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> DemoResult:
    if cfg.days < 1 or cfg.brands < 1 or cfg.ads_per_day < 1 or cfg.ads_per_day > 100:
        raise DemoError("days and brands must be >= 1 and ads-per-day within 1-100")
    if cfg.provider != "offline":
        from agents.providers.factory import MissingProviderKey, require_keys
        from agents.providers.settings import ProviderSettings

        try:
            require_keys(ProviderSettings.from_env())
        except MissingProviderKey as exc:
            raise DemoError(str(exc)) from None
    started = time.monotonic()
    dsn = demo_database(
        cfg.fresh, cfg.dbname, cfg.database_url, cfg.writes_fake_data_confirmed, log
    )
    migrate(dsn, jobs=False)  # virtual time: the demo calls run_job itself, pg_cron would not
    out = Path(cfg.out)
    storage = out / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    history: list[DayRecord] = []
    counts: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        truth: Truth = build_truth(
            cfg.seed, cfg.brands, load_dimensions(conn), load_reward_weights(conn)
        )
        market = Market(truth, seed=cfg.seed)
        market.setup(conn, start=START_DAY)
        twins = TwinMarkets(truth)
        clicks_days, purchases_days = read_maturation(conn)
        shadow = DemoShadow(truth, cfg.seed, clicks_days, purchases_days)
        marketer = Marketer(cfg.seed)
        pool = AgentPool(dsn, cfg.agents, cfg.concurrency, cfg.provider, storage)
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-shadow")
        try:
            for day_i in range(cfg.days):
                day = START_DAY + dt.timedelta(days=day_i)
                planned = _plan_day(conn, market, day, cfg)
                _wait_for_pipeline(conn, pool, cfg.day_timeout)
                ready = _unlaunched_approved(conn)
                launched: dict[int, list[UUID]] = {}
                for h in market.brands:
                    launched[h.index] = ready.get(h.brand_id, [])
                    market.launch_many(conn, launched[h.index], day)
                _start_deployed_experiments(conn, _at(day, 12))
                marketer.review(conn, _at(day, 0), _at(day, 18))
                marketer.curate_exemplars(conn, _at(day, 18))
                if day_i + 1 == marketer.experiment_after_days:
                    _, refusals = marketer.propose_experiments(
                        conn, [(h.brand_id, h.product_id) for h in market.brands], _at(day, 19)
                    )
                    for refusal in refusals:
                        log(f"\nexperiment refused: {refusal}")
                market.simulate_day(conn, day)
                for h in market.brands:
                    history.append(
                        record_day(
                            conn,
                            truth,
                            twins,
                            h,
                            day,
                            planned[h.index],
                            launched[h.index],
                            shadow,
                            day_i,
                        )
                    )
                # The shadow's update is Python on the demo's truth alone: it runs while
                # the server runs the day's jobs (the next day's choices wait for both).
                shadow_learning = background.submit(shadow.learn, day_i)
                for problem in _run_jobs(conn, day, counts):
                    log(f"\njob failed: {problem}")
                shadow_learning.result()
                marketer.approve_calibrations(conn, _at(day + dt.timedelta(days=1), 9))
                if not cfg.quiet:
                    sys.stdout.write(_progress(day_i, cfg, conn, started))
                    sys.stdout.flush()
            # What the last day's jobs planned still gets its decision.
            _wait_for_pipeline(conn, pool, cfg.day_timeout)
        finally:
            background.shutdown(wait=True)
            pool.stop()
        if not cfg.quiet:
            sys.stdout.write("\n")
        planned_total, finished = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE final_status <> 'pending') "
            "FROM generated_ads WHERE element_tags_source = 'plan'"
        ).fetchone()  # type: ignore[misc]
        save_history(history, out / "history.json")
        (out / "truth.json").write_text(json.dumps(truth.to_json(), indent=1))
        summary = build_report(conn, history, truth, out)
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    log(format_summary(summary))
    log(f"report: {out / 'report.html'}  ({summary['wall_seconds']}s)")
    return DemoResult(summary, history, dsn, int(planned_total), int(finished), counts)


def build_parser(prog: str = "genome demo") -> argparse.ArgumentParser:
    """The demo's options (`genome demo`, `python -m sim.demo`)."""
    p = argparse.ArgumentParser(
        prog=prog, description="run the simulated market loop and write out/report.html"
    )
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--brands", type=int, default=3)
    p.add_argument("--ads-per-day", type=int, default=6)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=project_root() / "out")
    p.add_argument("--agents", type=int, default=2, help="agent processes")
    p.add_argument(
        "--provider",
        default="offline",
        choices=["offline", "live"],
        help="offline (default) or live, which needs every model key",
    )
    p.add_argument("--fresh", action="store_true", help="recreate the demo database first")
    p.add_argument(
        "--database-url",
        help=f"run in this database instead of the sandbox (needs {FAKE_DATA_FLAG}; "
        "never dropped, --fresh does not apply)",
    )
    p.add_argument(
        FAKE_DATA_FLAG,
        dest="writes_fake_data",
        action="store_true",
        help="confirm that --database-url may receive the demo's fake organization, brands, "
        "ads and Meta rows",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """`genome demo`: registered in pyproject.toml under the `genome.commands` entry points,
    so the production CLI finds it without importing the simulator."""
    args = build_parser().parse_args(argv)
    cfg = DemoConfig(
        days=args.days,
        brands=args.brands,
        ads_per_day=args.ads_per_day,
        seed=args.seed,
        out=args.out,
        agents=args.agents,
        provider=args.provider,
        fresh=args.fresh,
        database_url=args.database_url,
        writes_fake_data_confirmed=args.writes_fake_data,
    )
    try:
        run_demo(cfg)
    except DemoError as exc:
        print(f"genome demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
