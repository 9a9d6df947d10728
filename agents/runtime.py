"""`genome agents run`: the long-lived agent process.

LISTEN genome_jobs (with a liveness probe) and poll as a fallback; claim jobs with a lease
up to the free worker slots; heartbeat every running job while its model call runs; write
results through the SQL writers; fail attempts with their error; reap expired leases; on
SIGTERM / SIGINT stop claiming, let running jobs finish for a while, then release the rest.
When the database goes away, every part reconnects with backoff.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue as queue_mod
import random
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_when_event_set,
    wait_exponential_jitter,
)

from agents.jobqueue import (
    CONNECTION_ERRORS,
    JobQueue,
    LeaseLost,
    RejectedResult,
    StageFailed,
    make_pool,
)
from agents.listener import Listener
from agents.settings import DEFAULT_DBNAME, database_url

if TYPE_CHECKING:
    from agents.pipeline import ProviderSet, Stages
    from agents.storage import Store

# The longest pause (before jitter) between attempts to reach an unavailable database:
# short, so the agents are back within seconds of its return (README.md#security-and-reliability).
MAX_DB_BACKOFF_S = 2.0
# The rows of genome.agent_job_kinds in stage order (tests/test_claim_order.py checks it).
PIPELINE_KINDS = ("generate", "defect_scan", "review", "second_opinion", "embed", "noop")
log = logging.getLogger("genome.agents")


@dataclass(frozen=True)
class RuntimeConfig:
    kinds: tuple[str, ...] = PIPELINE_KINDS
    concurrency: int = 4
    lease_seconds: float = 120.0
    poll_interval: float = 2.0
    probe_interval: float = 5.0
    idle_exit: float | None = None
    drain_seconds: float = 30.0
    reap_interval: float = 30.0


# Outcomes of a job whose result (or failure) this worker wrote itself.
OWN_OUTCOMES = frozenset({"succeeded", "retry", "dead"})
# How long a heartbeat refused for a running job waits for its worker to finish: the
# worker may have just written the result (the job is no longer "running") and not yet
# let go of it (README.md#security-and-reliability).
FINISH_GRACE_S = 1.0


@dataclass
class _Running:
    job: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    lost: bool = False
    outcome: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)


def _log(event: str, **fields: Any) -> None:
    log.info(json.dumps({"event": event, **fields}, default=str))


class _Runner(Protocol):
    def run(self, job: dict[str, Any]) -> str: ...


@dataclass
class _NoopStages:
    """The stages of an agent whose only kind is noop: no model and no image store, so it
    does not import the pipeline's image, provider and storage libraries (a noop agent's
    memory is the queue's own, README.md#benchmarks)."""

    queue: JobQueue

    def run(self, job: dict[str, Any]) -> str:
        self.queue.complete(job["id"], {"noop": True})
        return "done"


class _PipelineStages:
    """The pipeline's stages (agents/pipeline.py), imported and built for the first job: an
    agent listens for work before it loads the pipeline's image and model libraries
    (docs/operations.md#start-up)."""

    def __init__(self, providers: ProviderSet, queue: JobQueue, store: Store) -> None:
        self.providers, self.queue, self.store = providers, queue, store
        self._stages: Stages | None = None
        self._lock = threading.Lock()

    def run(self, job: dict[str, Any]) -> str:
        with self._lock:
            if self._stages is None:
                from agents.pipeline import ExemplarSource, Stages

                self._stages = Stages(
                    self.providers, self.queue, self.store, ExemplarSource(self.queue)
                )
        return self._stages.run(job)


class AgentRuntime:
    """One agent process: a dispatcher, worker threads, a heartbeat and a listener."""

    def __init__(
        self, dsn: str, config: RuntimeConfig, providers: ProviderSet, stop: threading.Event
    ) -> None:
        self.dsn = dsn
        self.config = config
        self.providers = providers
        self.stop = stop
        # the image store (GENOME_STORAGE_URL): a bad URL stops the agent before it claims;
        # an agent of noop jobs only has none
        self.store = None
        if set(config.kinds) != {"noop"}:
            from agents.storage import open_store

            self.store = open_store()
        # The name proves the leases this process holds: its random part is not guessable.
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self.wake = threading.Event()
        self.done = threading.Event()  # set when the runtime is finished
        self._running: dict[uuid.UUID, _Running] = {}
        self._lock = threading.Lock()
        self._work: queue_mod.Queue[dict[str, Any] | None] = queue_mod.Queue()

    # -- the parts ------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.config
        pool = make_pool(self.dsn, cfg.concurrency + 2)
        jobs = JobQueue(pool, self.worker, timedelta(seconds=cfg.lease_seconds))
        stages: _Runner = _NoopStages(jobs)
        if self.store is not None:
            stages = _PipelineStages(self.providers, jobs, self.store)
        listener = Listener(self.dsn, cfg.kinds, self.wake, self.done, cfg.probe_interval)
        workers = [
            threading.Thread(target=self._worker, args=(stages, jobs), daemon=True, name=f"w{i}")
            for i in range(cfg.concurrency)
        ]
        beat = threading.Thread(target=self._heartbeat, args=(jobs,), daemon=True)
        _log(
            "agent_start",
            worker=self.worker,
            kinds=list(cfg.kinds),
            mode=self.providers.mode,
            storage=self.store.url if self.store is not None else None,
        )
        listener.start()
        beat.start()
        for w in workers:
            w.start()
        try:
            self._dispatch(jobs)
            self._drain(jobs)
        finally:
            self.done.set()
            for _ in workers:
                self._work.put(None)
            pool.close(timeout=5)
            _log("agent_stop", worker=self.worker, listener_reconnects=listener.reconnects)

    def _dispatch(self, jobs: JobQueue) -> None:
        cfg = self.config
        idle_since: float | None = None
        backoff = 0.25
        next_reap = 0.0
        while not self.stop.is_set():
            self.wake.clear()
            try:
                if time.monotonic() >= next_reap:
                    reaped = jobs.reap()
                    if reaped:
                        _log("reaped", jobs=reaped)
                    next_reap = time.monotonic() + cfg.reap_interval
                free = cfg.concurrency - self._count()
                claimed = jobs.claim(cfg.kinds, free) if free > 0 else []
                idle = not claimed and self._count() == 0
                if idle and cfg.idle_exit is not None and not jobs.has_work(cfg.kinds):
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= cfg.idle_exit:
                        _log("idle_exit", worker=self.worker, seconds=cfg.idle_exit)
                        return
                else:
                    idle_since = None
                backoff = 0.25
            except CONNECTION_ERRORS as exc:
                delay = backoff * (0.5 + random.random())
                _log("db_unavailable", error=str(exc)[:300], retry_s=round(delay, 2))
                self.stop.wait(delay)
                backoff = min(backoff * 2, MAX_DB_BACKOFF_S)
                continue
            for job in claimed:
                with self._lock:
                    self._running[job["id"]] = _Running(job)
                self._work.put(job)
            if claimed and len(claimed) == free:
                continue  # full: the next wake comes from a finishing worker
            if not claimed:
                idle_wait = cfg.idle_exit / 4 if idle_since and cfg.idle_exit else None
                self._sleep(idle_wait or cfg.poll_interval)

    def _sleep(self, seconds: float) -> None:
        """Until woken (notification, finished job), stopped, or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while not (self.stop.is_set() or self.wake.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.wake.wait(min(left, 0.25))

    def _worker(self, stages: _Runner, jobs: JobQueue) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            self._process(stages, jobs, job)

    def _process(self, stages: _Runner, jobs: JobQueue, job: dict[str, Any]) -> None:
        started = time.monotonic()
        line: dict[str, Any] = {
            "kind": job["kind"],
            "id": job["id"],
            "ad": job.get("generated_ad_id"),
            "attempt": job["attempts"],
            "worker": self.worker,
        }
        try:
            line["status"] = stages.run(job)
            line["outcome"] = "succeeded"
        except LeaseLost as exc:
            line.update(outcome="lease_lost", error=str(exc)[:300])
        except StageFailed as exc:
            line.update(self._fail(jobs, job, str(exc), exc.calls))
        except CONNECTION_ERRORS as exc:
            # The result could not be written; the lease expires and the job is retried.
            line.update(outcome="db_unavailable", error=str(exc)[:300])
        except Exception as exc:  # a bug must not leave the job leased until it expires
            text = "".join(traceback.format_exception(exc))[-4000:]
            line.update(self._fail(jobs, job, f"agent error: {text}"))
        finally:
            jobs.forget(job["id"])
            with self._lock:
                item = self._running.pop(job["id"], None)
            if item is not None:
                item.outcome = line.get("outcome")
                item.finished.set()
            line["ms"] = round((time.monotonic() - started) * 1000)
            _log("job", **line)
            self.wake.set()

    def _fail(
        self,
        jobs: JobQueue,
        job: dict[str, Any],
        error: str,
        calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        try:
            try:
                status = jobs.fail(job["id"], error, calls)
            except RejectedResult as exc:
                if not calls:
                    raise
                # call records the database refuses (GN408, GN413) must not keep the job
                # leased: the attempt fails without them, and the log says so
                _log("calls_refused", id=job["id"], error=str(exc)[:300])
                status = jobs.fail(job["id"], error)
        except LeaseLost:
            return {"outcome": "lease_lost", "error": error[:300]}
        except CONNECTION_ERRORS:
            return {"outcome": "db_unavailable", "error": error[:300]}
        return {"outcome": "dead" if status == "dead" else "retry", "error": error[:300]}

    def _heartbeat(self, jobs: JobQueue) -> None:
        interval = max(0.2, self.config.lease_seconds / 3)
        while not self.done.wait(interval):
            with self._lock:
                running = list(self._running.items())
            for job_id, item in running:
                if item.lost:
                    continue
                try:
                    if not jobs.heartbeat(job_id) and self._lost_to_another(item):
                        _log("lease_lost", id=job_id, kind=item.job["kind"])
                except CONNECTION_ERRORS:
                    break  # the database is away; the next beat tries again
                except Exception as exc:  # heartbeats must keep going for the other jobs
                    _log("heartbeat_error", id=job_id, error=str(exc)[:300])

    @staticmethod
    def _lost_to_another(item: _Running) -> bool:
        """A refused heartbeat: was the job taken from this worker (reaped, released),
        rather than finished by it while the heartbeat was under way?"""
        item.lost = True
        item.finished.wait(FINISH_GRACE_S)
        return item.outcome not in OWN_OUTCOMES

    def _drain(self, jobs: JobQueue) -> None:
        """Stop claiming; wait for running jobs, then give back what is still running."""
        if not self.stop.is_set():
            return
        deadline = time.monotonic() + self.config.drain_seconds
        _log("draining", worker=self.worker, running=self._count())
        while self._count() and time.monotonic() < deadline:
            self.wake.wait(0.2)
            self.wake.clear()
        with self._lock:
            left = list(self._running)
        for job_id in left:
            try:
                released = jobs.release(job_id)
            except CONNECTION_ERRORS:
                released = False
            _log("released", id=job_id, released=released)

    def _count(self) -> int:
        with self._lock:
            return len(self._running)


def _install_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        _log("signal", signal=signal.Signals(signum).name)
        stop.set()
        # A second signal ends the process the usual way.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _ensure_logging() -> None:
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)


def run_agents(
    dsn: str,
    kinds: list[str] | None,
    concurrency: int,
    provider_mode: str | None,
    stop: threading.Event | None = None,
    idle_exit: float | None = None,
    *,
    providers: ProviderSet | None = None,
    lease_seconds: float | None = None,
    poll_interval: float = 2.0,
    probe_interval: float = 5.0,
    drain_seconds: float = 30.0,
) -> None:
    """Run agents until `stop` is set (or SIGTERM / SIGINT when no `stop` is given), or,
    with idle_exit, until no job of `kinds` has been queued or running for that long.

    provider_mode 'offline' or 'live' (None: GENOME_PROVIDER, else live); live without a
    key the kinds need raises MissingProviderKey before anything starts."""
    _ensure_logging()
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    unknown = set(kinds or ()) - set(PIPELINE_KINDS)
    if unknown:
        raise ValueError(f"unknown job kind(s): {', '.join(sorted(unknown))}")
    if stop is None:
        stop = threading.Event()
        _install_signals(stop)
    if providers is None:
        from agents.providers.factory import load_providers

        providers = load_providers(provider_mode, kinds=kinds)
    lease = lease_seconds if lease_seconds is not None else _lease_setting(dsn, stop)
    if lease is None:
        return  # stopped while waiting for the database
    config = RuntimeConfig(
        kinds=tuple(kinds) if kinds else PIPELINE_KINDS,
        concurrency=concurrency,
        lease_seconds=lease,
        poll_interval=poll_interval,
        probe_interval=probe_interval,
        idle_exit=idle_exit,
        drain_seconds=drain_seconds,
        reap_interval=max(1.0, lease / 4),
    )
    AgentRuntime(dsn, config, providers, stop).run()


def _lease_setting(dsn: str, stop: threading.Event) -> float | None:
    """The lease setting; an agent started before the database waits for it (None when
    stopped first)."""
    import psycopg

    retrying = Retrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        wait=wait_exponential_jitter(initial=0.25, max=MAX_DB_BACKOFF_S),
        stop=stop_when_event_set(stop),
        sleep=stop.wait,
        before_sleep=lambda state: _log(
            "db_unavailable", error=str(state.outcome.exception())[:300]
        ),
    )
    try:
        for attempt in retrying:
            with attempt, psycopg.connect(dsn, connect_timeout=10) as conn:
                row = conn.execute("SELECT genome.agent_lease_seconds()").fetchone()
    except RetryError:
        return None
    return float(row[0])  # type: ignore[index]


def _cmd_run(args: argparse.Namespace) -> int:
    from agents.providers.factory import MissingProviderKey

    try:
        run_agents(
            args.url or database_url(args.dbname),
            args.kinds,
            args.concurrency,
            args.provider,
            idle_exit=args.idle_exit,
            lease_seconds=args.lease,
            poll_interval=args.poll_interval,
        )
    except MissingProviderKey as exc:
        print(f"genome agents run: not started: {exc}", file=sys.stderr)
        return 2
    return 0


def add_cli(subparsers: Any) -> None:
    """Register `agents run` on the `genome` command line."""
    agents = subparsers.add_parser("agents", help="the model-calling agents")
    sub = agents.add_subparsers(dest="agents_command", required=True)
    run = sub.add_parser("run", help="claim and run pipeline jobs until stopped")
    run.add_argument("--kinds", nargs="+", choices=PIPELINE_KINDS, help="job kinds (default all)")
    run.add_argument("--concurrency", type=int, default=4, help="jobs run at once")
    run.add_argument(
        "--provider",
        choices=["live", "offline"],
        default=None,
        help="live: the vendors' models, with every key the kinds need, else the agent does "
        "not start; offline: synthetic images and reviews, only when asked "
        "(default: GENOME_PROVIDER, else live)",
    )
    run.add_argument("--idle-exit", type=float, default=None, help="exit after N idle seconds")
    run.add_argument("--lease", type=float, default=None, help="lease seconds (default setting)")
    run.add_argument("--poll-interval", type=float, default=2.0, help="poll fallback seconds")
    run.add_argument("--url", help="database URL (default: GENOME_DATABASE_URL or local)")
    run.add_argument("--dbname", default=DEFAULT_DBNAME)
    run.set_defaults(func=_cmd_run)
