"""Demo: `genome demo` wall time (its defaults), peak RSS of the demo process and of its
agent processes, and the database size afterwards. No alternative.

The demo runs as its own process against a bench database (--database-url), writing
into out/bench_demo; psutil follows the process tree and the peak RSS of each process is
its kernel high-water mark (VmHWM), read while it is alive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from agents.settings import project_root
from bench.harness import BenchResult, Row, Server, database_size
from bench.jobqueue import vm_hwm

POLL_S = 0.2


def _track(proc: subprocess.Popen[bytes], peaks: dict[int, tuple[str, int]]) -> None:
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        hwm = vm_hwm(p.pid)
        if hwm is None:
            continue
        try:
            role = "agent" if "agents" in p.cmdline() and "run" in p.cmdline() else "demo"
        except psutil.Error:
            continue
        if p.pid == proc.pid:
            role = "demo"
        elif role == "demo":
            role = "other"
        if hwm > peaks.get(p.pid, ("", 0))[1]:
            peaks[p.pid] = (role, hwm)


def run(server: Server, extra_args: list[str]) -> BenchResult:
    root = project_root()
    out = server.work / "bench_demo"
    res = BenchResult("demo", {"args": extra_args or "defaults"})
    with server.database("demo", schema=False) as url:
        # The bench's own database, named explicitly: the demo never writes its fake data
        # anywhere else unless told so (docs/operations.md).
        env = {k: v for k, v in os.environ.items() if k != "GENOME_DATABASE_URL"}
        log = server.work / "bench_logs" / "demo.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "agents.cli", "demo", "--out", str(out),
            "--database-url", url, "--i-know-this-writes-fake-data", *extra_args,
        ]  # fmt: skip
        peaks: dict[int, tuple[str, int]] = {}
        start = time.perf_counter()
        with log.open("wb") as fh:
            proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=fh, stderr=subprocess.STDOUT)
            while proc.poll() is None:
                _track(proc, peaks)
                time.sleep(POLL_S)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"genome demo exited with {proc.returncode}: {tail}")
        size = database_size(url)
    demo_rss = max((v for r, v in peaks.values() if r == "demo"), default=None)
    agent_rss = max((v for r, v in peaks.values() if r == "agent"), default=None)
    res.rows += [
        Row("genome demo wall time", "s", wall),
        Row("demo process peak RSS", "bytes", demo_rss),
        Row("agent process peak RSS (offline provider)", "bytes", agent_rss),
        Row("database size after the demo", "bytes", size),
    ]
    res.details = {
        "command": cmd,
        "agents_seen": sum(1 for r, _ in peaks.values() if r == "agent"),
        "log": str(log),
        "out": str(out),
    }
    return res
