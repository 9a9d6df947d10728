"""Queue: NOTIFY -> claim latency and no-op throughput, the agent runtime vs procrastinate.

Project: real agent processes (agents.runtime for kind 'noop', concurrency 1 each) on
genome.enqueue_job(s) / claim_jobs / complete_job in one bench database. Alternative:
procrastinate workers (concurrency 1 each) with a no-op task, on the same server, in a
second bench database holding procrastinate's own schema.

Latency: one idle worker; jobs are enqueued one at a time, each after the previous one is
done; latency = claim time - enqueue time, both server timestamps (claimed_at of the
attempt vs created_at of the job; procrastinate's 'started' vs 'deferred' events).
Throughput: N workers idle and listening; `jobs` jobs enqueued in one transaction;
throughput = jobs / (last completion - commit), server timestamps.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from agents.settings import project_root
from bench.harness import BenchResult, Row, Server, summarize_ms
from bench.queue_workers import procrastinate_app

DONE_TIMEOUT = 900.0


def vm_hwm(pid: int) -> int | None:
    """Peak resident set size of a live process (Linux VmHWM), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class Workers:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, system: str, dsn: str, n: int, log_dir: Path) -> Workers:
        root = project_root()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "bench.queue_workers", system, "--dsn", dsn]
        log_dir.mkdir(parents=True, exist_ok=True)
        workers = cls()
        for i in range(n):
            log = log_dir / f"{system}-{i}.log"
            with log.open("wb") as fh:  # the child keeps its own descriptor
                workers.procs.append(
                    subprocess.Popen(cmd, env=env, cwd=root, stdout=fh, stderr=subprocess.STDOUT)
                )
            workers.logs.append(log)
        return workers

    def check(self) -> None:
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker exited with {p.returncode}: {tail}")

    def peak_rss(self) -> list[int]:
        return [r for p in self.procs if (r := vm_hwm(p.pid)) is not None]

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


class Queue:
    """What the benchmark needs of a queue: enqueue, count done, server timestamps."""

    system: str
    name: str

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def now(self) -> float:
        row = self.conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        assert row is not None
        return float(row[0])

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def enqueue_one(self) -> Any: ...
    def enqueue_many(self, n: int) -> None: ...
    def done(self) -> int: ...
    def latency(self, job: Any) -> float | None: ...
    def last_done(self) -> float: ...
    def reset(self) -> None: ...


class AgentQueue(Queue):
    system = "agent"
    name = "genome agent runtime"

    def enqueue_one(self) -> Any:
        return self.scalar("SELECT genome.enqueue_job('noop', NULL)")

    def enqueue_many(self, n: int) -> None:
        # One call with the batch's payloads sent from the client, as procrastinate's
        # batch_defer sends its jobs' arguments.
        with self.conn.transaction():
            self.conn.execute(
                "SELECT cardinality(genome.enqueue_jobs('noop', NULL, %s::jsonb[]))",
                ([Jsonb({"i": i}) for i in range(1, n + 1)],),
            )

    def done(self) -> int:
        return int(self.scalar("SELECT count(*) FROM genome.agent_jobs WHERE status = 'succeeded'"))

    def latency(self, job: Any) -> float | None:
        return self.scalar(
            "SELECT extract(epoch FROM min(a.claimed_at) - j.created_at) "
            "FROM genome.agent_jobs AS j JOIN genome.agent_job_attempts AS a "
            "ON a.agent_job_id = j.id WHERE j.id = %s AND j.status = 'succeeded' "
            "GROUP BY j.created_at",
            (job,),
        )

    def last_done(self) -> float:
        return float(
            self.scalar("SELECT extract(epoch FROM max(finished_at)) FROM genome.agent_jobs")
        )

    def reset(self) -> None:
        self.conn.execute("TRUNCATE genome.agent_jobs CASCADE")


class ProcrastinateQueue(Queue):
    system = "procrastinate"
    name = "procrastinate"

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.app = procrastinate_app(dsn)
        self._open = self.app.open()
        self._open.__enter__()
        self.task = self.app.tasks["noop"]

    def close(self) -> None:
        self._open.__exit__(None, None, None)
        super().close()

    def enqueue_one(self) -> Any:
        return self.task.defer()

    def enqueue_many(self, n: int) -> None:
        self.task.batch_defer(*({} for _ in range(n)))

    def done(self) -> int:
        return int(
            self.scalar("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
        )

    def latency(self, job: Any) -> float | None:
        return self.scalar(
            "SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'started') "
            "- max(at) FILTER (WHERE type = 'deferred')) FROM procrastinate_events "
            "WHERE job_id = %s HAVING bool_or(type = 'succeeded')",
            (job,),
        )

    def last_done(self) -> float:
        return float(
            self.scalar(
                "SELECT extract(epoch FROM max(at)) FROM procrastinate_events "
                "WHERE type = 'succeeded'"
            )
        )

    def reset(self) -> None:
        self.conn.execute("TRUNCATE procrastinate_jobs CASCADE")


def wait_done(q: Queue, target: int, workers: Workers, timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while q.done() < target:
        workers.check()
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def measure_latency(q: Queue, samples: int, seed: int, log_dir: Path) -> list[float]:
    rng = random.Random(seed)
    workers = Workers.start(q.system, q.dsn, 1, log_dir)
    try:
        q.enqueue_many(2)  # the worker is up and listening once these are done
        if not wait_done(q, 2, workers, 120, 0.05):
            raise RuntimeError(f"{q.name}: the worker did not start")
        out: list[float] = []
        for i in range(samples):
            time.sleep(rng.uniform(0.02, 0.06))
            job = q.enqueue_one()
            if not wait_done(q, 3 + i, workers, 60, 0.005):
                raise RuntimeError(f"{q.name}: a job was not done within 60 s")
            lat = q.latency(job)
            if lat is not None:
                out.append(float(lat))
    finally:
        workers.stop()
        q.reset()
    return out


def measure_throughput(q: Queue, jobs: int, agents: int, log_dir: Path) -> dict[str, Any]:
    workers = Workers.start(q.system, q.dsn, agents, log_dir)
    try:
        q.enqueue_many(2 * agents)
        if not wait_done(q, 2 * agents, workers, 120, 0.05):
            raise RuntimeError(f"{q.name}: the workers did not start")
        q.reset()
        t_enq = time.perf_counter()
        q.enqueue_many(jobs)
        enqueue_s = time.perf_counter() - t_enq
        committed = q.now()
        finished = wait_done(q, jobs, workers, DONE_TIMEOUT, 0.25)
        done = q.done()
        elapsed = (q.last_done() if done else q.now()) - committed
        rss = workers.peak_rss()
    finally:
        workers.stop()
        q.reset()
    return {
        "agents": agents,
        "jobs": jobs,
        "done": done,
        "finished": finished,
        "seconds": elapsed,
        "jobs_per_s": done / elapsed if elapsed > 0 else None,
        "enqueue_s": enqueue_s,
        "worker_peak_rss_bytes": rss,
    }


def _both(server: Server, fn: Callable[[Queue], Any]) -> tuple[Any, Any]:
    with server.database("queue") as url:
        q: Queue = AgentQueue(url)
        try:
            ours = fn(q)
        finally:
            q.close()
    with server.database("procrastinate", schema=False) as url:
        app = procrastinate_app(url)
        with app.open():
            app.schema_manager.apply_schema()
        q = ProcrastinateQueue(url)
        try:
            theirs = fn(q)
        finally:
            q.close()
    return ours, theirs


def run(server: Server, jobs: int, agents: tuple[int, ...], samples: int) -> BenchResult:
    res = BenchResult("queue", {"jobs": jobs, "agents": list(agents), "latency_samples": samples})
    alt = "procrastinate"

    def everything(q: Queue) -> dict[str, Any]:
        logs = server.work / "bench_logs"
        lat = summarize_ms(measure_latency(q, samples, 17, logs))
        runs = [measure_throughput(q, jobs, n, logs) for n in agents]
        return {"latency_ms": lat, "throughput": runs}

    ours, theirs = _both(server, everything)
    for k in ("p50", "p99"):
        res.rows.append(
            Row(f"NOTIFY->claim {k}", "ms", ours["latency_ms"][k], theirs["latency_ms"][k], alt)
        )
    for mine, other in zip(ours["throughput"], theirs["throughput"], strict=True):
        res.rows.append(
            Row(
                f"no-op jobs/s, {mine['agents']} agent(s)",
                "jobs/s",
                mine["jobs_per_s"],
                other["jobs_per_s"],
                alt,
                lower_is_better=False,
            )
        )
        for side, run_ in (("project", mine), (alt, other)):
            if not run_["finished"]:
                res.notes.append(
                    f"{side} with {run_['agents']} agent(s) finished {run_['done']} of "
                    f"{run_['jobs']} jobs within {DONE_TIMEOUT:.0f} s (rate over what was done)"
                )
    rss_ours = max(
        (r for t in ours["throughput"] for r in t["worker_peak_rss_bytes"]), default=None
    )
    rss_theirs = max(
        (r for t in theirs["throughput"] for r in t["worker_peak_rss_bytes"]), default=None
    )
    res.rows.append(Row("worker process peak RSS", "bytes", rss_ours, rss_theirs, alt))
    res.rows.append(
        Row(
            f"enqueue {jobs} jobs (one transaction)",
            "s",
            ours["throughput"][0]["enqueue_s"],
            theirs["throughput"][0]["enqueue_s"],
            alt,
        )
    )
    res.details = {"project": ours, "procrastinate": theirs}
    res.notes.append(
        "each agent / worker is a process with concurrency 1; the agent is the project's "
        "runtime (LISTEN, lease, heartbeat thread, reaper) running kind 'noop'."
    )
    return res
