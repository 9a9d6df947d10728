"""The agents' side of the SQL queue: thin calls to the genome.* queue functions.

Every call takes a connection from the pool for one statement (autocommit), so no
connection is held while a model runs. Result writers are safe to repeat after a lost
reply (the SQL replays the stored outcome for the worker that completed the job), so they
are retried when the database connection drops; claims are not retried blindly.

A claim returns a random lease token per job; every later call on the job presents it with
the worker name (a name is no secret: docs/security.md#definer-functions). The queue keeps
the tokens of the jobs it claimed until the runtime forgets a finished job.
"""

from __future__ import annotations

import array
import json
import select
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

# Errors that mean "the database is unreachable right now", not "the request is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)
LEASE_LOST_SQLSTATE = "GN404"


class LeaseLost(RuntimeError):
    """The job is no longer ours (reaped after its lease expired, or released)."""


class RejectedResult(RuntimeError):
    """The database refused a result as malformed (a GN4xx error): a failed attempt."""


class StageFailed(RuntimeError):
    """This attempt failed (the model, its output, or the result was refused). `calls` are
    the attempt's billed model calls, for fail_job to record: the successful ones made
    before the failure and the failed one (ok = false, its error class)."""

    def __init__(self, message: str, calls: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.calls = calls or []


# How long a request waits for a connection, and how long the pool keeps trying to
# replace a lost one. psycopg_pool doubles the delay between reconnection attempts (1, 2,
# 4 s, ...) until RECONNECT_TIMEOUT_S, then gives up, and the next request starts again at
# once: a short give-up time caps the gap between attempts at 2 s, so after an outage of
# any length the agents are back within seconds of the database
# (README.md#security-and-reliability).
POOL_TIMEOUT_S = 5.0
RECONNECT_TIMEOUT_S = 5.0


def check_idle_connection(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection before handing it out (docs/operations.md#connections):
    a round trip only when its socket has something to read. An idle connection receives
    nothing unless the server closed it (a restart, a terminated backend: end of file, often
    after an error message), so the common case costs no query; psycopg_pool's own check
    asks the server every time, a round trip per call of the agent."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def make_pool(dsn: str, max_size: int, name: str = "genome-agents") -> ConnectionPool:
    """A pool of autocommit connections returning dict rows, each checked before use
    (check_idle_connection)."""
    return ConnectionPool(
        dsn,
        min_size=1,
        max_size=max(2, max_size),
        kwargs={"autocommit": True, "row_factory": dict_row},
        check=check_idle_connection,
        configure=_register_embedding,
        timeout=POOL_TIMEOUT_S,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
        name=name,
        open=True,
    )


class Embedding:
    """An embedding sent as a query parameter in pgvector's binary form (EmbeddingDumper)."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[float]) -> None:
        self.values = values


class EmbeddingDumper(Dumper):
    """pgvector's binary input (vector_recv): the dimension and a reserved word as 16-bit
    integers, then the values as big-endian float4. Written here rather than through the
    pgvector package, whose dumpers import numpy and need the type's OID from a query per
    connection; with OID 0 the server takes the type from the statement's `::vector`. The
    text form cost 1.2 ms of the agent's CPU an embedding (a repr per value); this 0.05 ms."""

    format = Format.BINARY
    oid = 0

    def dump(self, obj: Embedding) -> bytes:
        values = array.array("f", obj.values)
        if sys.byteorder == "little":
            values.byteswap()
        return len(values).to_bytes(2, "big") + b"\x00\x00" + values.tobytes()


def _register_embedding(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(Embedding, EmbeddingDumper)


def _translate(exc: psycopg.Error) -> Exception:
    state = exc.sqlstate or ""
    if state == LEASE_LOST_SQLSTATE:
        return LeaseLost(exc.diag.message_primary or str(exc))
    if state.startswith("GN"):
        return RejectedResult(f"[{state}] {exc.diag.message_primary or exc}")
    return exc


_retry_on_disconnect = retry(
    retry=retry_if_exception_type(CONNECTION_ERRORS),
    wait=wait_exponential_jitter(initial=0.2, max=5.0),
    stop=stop_after_delay(60),
    reraise=True,
)


class JobQueue:
    """The queue functions, called as one worker with one lease length."""

    def __init__(self, pool: ConnectionPool, worker: str, lease: timedelta) -> None:
        self.pool = pool
        self.worker = worker
        self.lease = lease
        # job id -> lease token of the jobs this worker claimed and has not forgotten
        self._tokens: dict[UUID, UUID] = {}

    def token(self, job_id: UUID) -> UUID | None:
        """The lease token claim() got for the job (None once forgotten or never claimed)."""
        return self._tokens.get(job_id)

    def forget(self, job_id: UUID) -> None:
        """Drop a finished job's token (a later heartbeat for it is then simply refused)."""
        self._tokens.pop(job_id, None)

    def _one(self, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            try:
                return conn.execute(sql, params).fetchone()  # type: ignore[return-value]
            except psycopg.Error as exc:
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    def _value(self, sql: str, params: Sequence[Any]) -> Any:
        row = self._one(sql, params)
        return None if row is None else next(iter(row.values()))

    def claim(self, kinds: Sequence[str], n: int) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            rows: list[dict[str, Any]] = conn.execute(  # type: ignore[assignment]
                "SELECT * FROM genome.claim_jobs(%s, %s, %s, %s)",
                (list(kinds), self.worker, self.lease, n),
            ).fetchall()
        for row in rows:
            self._tokens[row["id"]] = row["lease_token"]
        return rows

    def has_work(self, kinds: Sequence[str]) -> bool:
        return bool(self._value("SELECT genome.agent_has_work(%s)", (list(kinds),)))

    def heartbeat(self, job_id: UUID) -> bool:
        return bool(
            self._value(
                "SELECT genome.heartbeat_job(%s, %s, %s, p_lease_token => %s)",
                (job_id, self.worker, self.lease, self.token(job_id)),
            )
        )

    @_retry_on_disconnect
    def fail(self, job_id: UUID, error: str, calls: list[dict[str, Any]] | None = None) -> str:
        """Fail the attempt, recording its billed model calls (`calls`, ok or not)."""
        return str(
            self._value(
                "SELECT genome.fail_job(%s, %s, %s, p_calls => %s, p_lease_token => %s)",
                (
                    job_id,
                    self.worker,
                    error,
                    json.dumps(calls) if calls else None,
                    self.token(job_id),
                ),
            )
        )

    def release(self, job_id: UUID) -> bool:
        return bool(
            self._value(
                "SELECT genome.release_job(%s, %s, p_lease_token => %s)",
                (job_id, self.worker, self.token(job_id)),
            )
        )

    def reap(self) -> int:
        return int(self._value("SELECT genome.reap_jobs()", ()))

    @_retry_on_disconnect
    def context(self, job_id: UUID) -> dict[str, Any]:
        return dict(
            self._value(
                "SELECT genome.job_context(%s, %s, p_lease_token => %s)",
                (job_id, self.worker, self.token(job_id)),
            )
        )

    @_retry_on_disconnect
    def complete(self, job_id: UUID, result: dict[str, Any]) -> bool:
        return bool(
            self._value(
                "SELECT genome.complete_job(%s, %s, %s, p_lease_token => %s)",
                (job_id, self.worker, json.dumps(result), self.token(job_id)),
            )
        )

    @_retry_on_disconnect
    def record_generation(
        self, job_id: UUID, storage_path: str, prompt_text: str, call: dict[str, Any]
    ) -> Any:
        return self._value(
            "SELECT genome.record_generation(%s, %s, %s, %s, %s, p_lease_token => %s)",
            (job_id, self.worker, storage_path, prompt_text, json.dumps(call), self.token(job_id)),
        )

    @_retry_on_disconnect
    def record_defect_scan(self, job_id: UUID, scan: dict[str, Any], call: dict[str, Any]) -> Any:
        return self._value(
            "SELECT genome.record_defect_scan(%s, %s, %s, %s, p_lease_token => %s)",
            (job_id, self.worker, json.dumps(scan), json.dumps(call), self.token(job_id)),
        )

    @_retry_on_disconnect
    def record_review(
        self, job_id: UUID, review: dict[str, Any], calls: list[dict[str, Any]]
    ) -> Any:
        return self._value(
            "SELECT genome.record_review(%s, %s, %s, %s, p_lease_token => %s)",
            (job_id, self.worker, json.dumps(review), json.dumps(calls), self.token(job_id)),
        )

    @_retry_on_disconnect
    def record_embedding(
        self,
        job_id: UUID,
        descriptor: dict[str, Any],
        vector: Sequence[float],
        model: str,
        calls: list[dict[str, Any]],
    ) -> Any:
        return self._value(
            "SELECT genome.record_embedding(%s, %s, %s, %s::vector, %s, %s, p_lease_token => %s)",
            (
                job_id,
                self.worker,
                json.dumps(descriptor),
                Embedding(vector),
                model,
                json.dumps(calls),
                self.token(job_id),
            ),
        )

    @_retry_on_disconnect
    def review_exemplars(
        self,
        job_id: UUID,
        vector: Sequence[float] | None,
        model: str | None,
        k: int,
        descriptor: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The brand's exemplars nearest the image of a review job this worker holds; with
        no vector, model and descriptor, nearest the lookup an earlier review kept."""
        with self.pool.connection() as conn:
            try:
                return conn.execute(  # type: ignore[return-value]
                    "SELECT * FROM genome.review_exemplars("
                    "%s, %s, %s::vector, %s, %s, %s, p_lease_token => %s)",
                    (
                        job_id,
                        self.worker,
                        None if vector is None else Embedding(vector),
                        model,
                        k,
                        None if descriptor is None else json.dumps(descriptor),
                        self.token(job_id),
                    ),
                ).fetchall()
            except psycopg.Error as exc:
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    @_retry_on_disconnect
    def record_embedding_from_lookup(self, job_id: UUID) -> Any:
        return self._value(
            "SELECT genome.record_embedding_from_lookup(%s, %s, p_lease_token => %s)",
            (job_id, self.worker, self.token(job_id)),
        )
