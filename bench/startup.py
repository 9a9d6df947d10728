"""Start-up: CPU time and time-to-ready of `genome agents run` vs a procrastinate worker.

Each start is a fresh process on its own bench database (the agent's migrated, procrastinate's
with its own schema). Ready means the worker listens for work: a backend of that database
whose last statement is a LISTEN (the agent's listener on genome_jobs, procrastinate's on its
queue channel), the same marker for both. At that moment the process's CPU time (user +
system, psutil) is read, then the process is stopped. An agent that imports more than its
kinds need (the demo, scipy) shows up here as CPU time; under churn, a slow start is a
replacement that is not ready yet (docs/operations.md).
"""

from __future__ import annotations

import compileall
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

from agents.settings import project_root
from bench.harness import BenchResult, Row, Server, summarize_ms
from bench.queue_workers import procrastinate_app

READY_TIMEOUT_S = 60.0
POLL_S = 0.005


def _agent_cmd(url: str) -> list[str]:
    """`genome agents run` as an operator starts it (all pipeline kinds)."""
    return [
        *(sys.executable, "-m", "agents.cli", "agents", "run"),
        *("--url", url, "--provider", "offline", "--concurrency", "1"),
    ]


def _procrastinate_cmd(url: str) -> list[str]:
    return [sys.executable, "-m", "bench.queue_workers", "procrastinate", "--dsn", url]


def _listening(conn: psycopg.Connection, dbname: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'LISTEN%%'",
        (dbname,),
    ).fetchone()
    return bool(row and row[0])


def start_once(cmd: list[str], admin_url: str, dbname: str, log: Path) -> tuple[float, float]:
    """Start `cmd`, wait until it listens; return (seconds to ready, CPU seconds to ready)."""
    root = project_root()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    with psycopg.connect(admin_url, autocommit=True) as conn, log.open("wb") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=fh, stderr=subprocess.STDOUT)
        try:
            ps = psutil.Process(proc.pid)
            while not _listening(conn, dbname):
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{cmd[2:5]} exited with {proc.returncode}: {tail}")
                if time.perf_counter() - start > READY_TIMEOUT_S:
                    raise RuntimeError(f"{cmd[2:5]} not ready within {READY_TIMEOUT_S} s")
                time.sleep(POLL_S)
            ready = time.perf_counter() - start
            cpu = ps.cpu_times()
            cpu_s = cpu.user + cpu.system
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return ready, cpu_s


def compile_sources() -> None:
    """Both commands start from the checkout (agents/, bench/queue_workers.py): their
    bytecode is compiled first, as installing a package does (procrastinate's own was, by
    pip). Otherwise, under PYTHONDONTWRITEBYTECODE, each start compiled them again, or
    not, depending on the __pycache__ directories left behind."""
    root = project_root()
    for package in ("agents", "bench"):
        compileall.compile_dir(root / package, quiet=1)


def run(server: Server, starts: int) -> BenchResult:
    res = BenchResult("startup", {"starts": starts})
    compile_sources()
    logs = server.work / "bench_logs"
    logs.mkdir(parents=True, exist_ok=True)
    measured: dict[str, tuple[list[float], list[float]]] = {}
    with (
        server.database("startup_agent") as agent_url,
        server.database("startup_procrastinate", schema=False) as proc_url,
    ):
        app = procrastinate_app(proc_url)
        with app.open():
            app.schema_manager.apply_schema()
        commands = {"agent": _agent_cmd(agent_url), "procrastinate": _procrastinate_cmd(proc_url)}
        dbnames = {
            "agent": server.dbname("startup_agent"),
            "procrastinate": server.dbname("startup_procrastinate"),
        }
        for system, cmd in commands.items():
            ready, cpu = [], []
            for i in range(starts):
                log = logs / f"start-{system}-{i}.log"
                r, c = start_once(cmd, server.admin_url, dbnames[system], log)
                ready.append(r)
                cpu.append(c)
            measured[system] = (ready, cpu)
    ours, theirs = measured["agent"], measured["procrastinate"]
    res.rows = [
        Row(
            "worker start to listening (p50)",
            "ms",
            summarize_ms(ours[0])["p50"],
            summarize_ms(theirs[0])["p50"],
            "procrastinate",
        ),
        Row(
            "CPU time until listening (p50)",
            "ms",
            summarize_ms(ours[1])["p50"],
            summarize_ms(theirs[1])["p50"],
            "procrastinate",
        ),
    ]
    res.details = {
        "agent": {"ready_ms": summarize_ms(ours[0]), "cpu_ms": summarize_ms(ours[1])},
        "procrastinate": {"ready_ms": summarize_ms(theirs[0]), "cpu_ms": summarize_ms(theirs[1])},
    }
    res.notes.append(
        "`genome agents run` (all pipeline kinds, offline providers) vs a procrastinate worker"
        " process; ready = the worker's LISTEN is in place; each start a fresh process"
        " (the checkout's agents/ and bench/ compiled to bytecode first, as an install does)."
    )
    return res
