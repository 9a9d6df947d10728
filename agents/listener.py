"""LISTEN genome_jobs on a dedicated connection, with a liveness probe and reconnects.

Notifications are wake-up hints only: the runtime also polls. After every (re)connect the
runtime is woken, since notifications sent while the connection was down are lost.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterable

import psycopg

CHANNEL = "genome_jobs"
log = logging.getLogger("genome.agents")


class Listener(threading.Thread):
    """Sets `wake` on each notification for one of `kinds` and after each reconnect."""

    def __init__(
        self,
        dsn: str,
        kinds: Iterable[str],
        wake: threading.Event,
        stop: threading.Event,
        probe_interval: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        super().__init__(name="genome-listener", daemon=True)
        self.dsn = dsn
        self.kinds = frozenset(kinds)
        self.wake = wake
        self.stop = stop
        self.probe_interval = probe_interval
        self.max_backoff = max_backoff
        self.connected = threading.Event()
        self.reconnects = 0

    def run(self) -> None:
        backoff = 0.25
        first = True
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if not first:
                        self.reconnects += 1
                        log.info(json.dumps({"event": "listener_reconnected"}))
                    first = False
                    backoff = 0.25
                    self.wake.set()
                    self._listen(conn)
            except Exception as exc:
                # Anything that ends a listening session (a lost connection, or a bug) leads
                # to a reconnect, never to the end of the thread: the agent would fall back
                # to polling for good (docs/attacks.md#agents-and-the-queue).
                self.connected.clear()
                delay = backoff * (0.5 + random.random())
                log.warning(
                    json.dumps(
                        {"event": "listener_down", "error": str(exc)[:300], "retry_s": delay}
                    )
                )
                self.stop.wait(delay)
                backoff = min(backoff * 2, self.max_backoff)

    def _listen(self, conn: psycopg.Connection) -> None:
        while not self.stop.is_set():
            for note in conn.notifies(timeout=self.probe_interval):
                if self._wanted(note.payload):
                    self.wake.set()
                if self.stop.is_set():
                    return
            # Liveness probe: a dead connection can stay silent; a query notices.
            conn.execute("SELECT 1")

    def _wanted(self, payload: str) -> bool:
        """Whether a notification may concern our kinds. Anyone may NOTIFY the channel, so
        the payload is untrusted: anything but {"kind": "<one of ours>"} or another kind's
        name is a wake-up (a spurious wake-up costs one empty claim)."""
        try:
            kind = json.loads(payload).get("kind")
        except (ValueError, AttributeError, RecursionError):
            return True
        return not isinstance(kind, str) or kind in self.kinds
