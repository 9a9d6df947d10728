"""Worker processes of the queue benchmark: `python -m bench.queue_workers agent|procrastinate`.

agent: the project's own runtime (agents.runtime.run_agents, LISTEN genome_jobs, claim with
a lease, complete through genome.complete_job) for kind 'noop'. The runtime completes a
noop job without calling any model, so the provider set given to it is never used.

procrastinate: a procrastinate worker for the same no-op task on the same server, in its
own database with procrastinate's own schema.
Both stop gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate import App


@dataclass
class NoModels:
    """A provider set for an agent that only runs noop jobs: any model call is a bug."""

    mode: str = "none"

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the noop benchmark agent has no model provider ({name})")


def procrastinate_app(dsn: str) -> App:
    # Imported here: the agent's worker process (this module too) must not carry
    # procrastinate in its memory, or the RSS comparison would count it on both sides.
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=dsn))

    @app.task(name="noop")
    def noop() -> None:
        return None

    return app


def run_agent(dsn: str, concurrency: int) -> None:
    from agents.runtime import run_agents

    logging.basicConfig(level=logging.WARNING)
    run_agents(
        dsn,
        ["noop"],
        concurrency,
        "offline",
        providers=NoModels(),  # type: ignore[arg-type]
        lease_seconds=120,
    )


def run_procrastinate(dsn: str, concurrency: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    procrastinate_app(dsn).run_worker(concurrency=concurrency, wait=True, listen_notify=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.queue_workers")
    p.add_argument("system", choices=["agent", "procrastinate"])
    p.add_argument("--dsn", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    args = p.parse_args(argv)
    if args.system == "agent":
        run_agent(args.dsn, args.concurrency)
    else:
        run_procrastinate(args.dsn, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
