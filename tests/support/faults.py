"""Helpers for the fault tests (no tests of its own): a fault-injecting provider set, a slow
provider set for kill -9 at random points, agent subprocesses (`python -m
tests.support.faults`), and a throwaway PostgreSQL cluster that can be stopped and
restarted without touching the shared project cluster."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from agents.cluster import _as_server_user
from agents.providers.base import (
    AdBrief,
    DefectScan,
    DefectScanResult,
    DescriptorResult,
    Exemplar,
    GeneratedImage,
    ProviderError,
    ReviewResult,
    RubricCheck,
    TransientProviderError,
)
from agents.providers.common import parse_json
from agents.settings import PG_BIN
from tests.support.pipeline import (
    AdEmbedder,
    DoubleImage,
    DoubleProviders,
    DoubleReviewer,
    double_providers,
)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class FaultyImage:
    """Generation and defect scan with injected faults, keyed by the ad's fault tag."""

    inner: DoubleImage = field(default_factory=DoubleImage)
    name: str = "faulty-image"
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, brief: AdBrief, op: str) -> int:
        with self.lock:
            self.calls[(str(brief.generated_ad_id), op)] += 1
            return self.calls[(str(brief.generated_ad_id), op)]

    def generate(self, brief: AdBrief) -> GeneratedImage:
        fault = brief.element_tags.get("fault", "ok")
        n = self._count(brief, "generate")
        if fault == "storm_429" and n <= 2:
            raise TransientProviderError("429 Too Many Requests: rate limited (storm)")
        if fault == "always_429":
            raise TransientProviderError("429 Too Many Requests: rate limited")
        if fault == "http_500":
            raise ProviderError("500 Internal Server Error from the image model")
        image = self.inner.generate(brief)
        png = _png()
        if fault == "truncated_image":
            png = png[: len(png) // 2]
        return image.model_copy(update={"png": png, "width": 64, "height": 64})

    def defect_scan(self, png: bytes, brief: AdBrief) -> DefectScanResult:
        from PIL import Image

        fault = brief.element_tags.get("fault", "ok")
        try:
            Image.open(io.BytesIO(png)).load()
        except Exception as exc:  # the model API refuses an unreadable image
            raise ProviderError(f"400 the image cannot be read (truncated image?): {exc}") from exc
        if fault == "empty_output":
            parse_json("", DefectScan, "defect scan")
        if fault == "non_utf8":
            parse_json(
                b'{"text_garbled": \xff}'.decode("utf-8", "replace"), DefectScan, "defect scan"
            )
        return self.inner.defect_scan(png, brief)

    def describe(self, png: bytes) -> DescriptorResult:
        return self.inner.describe(png)


@dataclass
class FaultyReviewer:
    inner: DoubleReviewer = field(default_factory=DoubleReviewer)
    name: str = "faulty-reviewer"

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult:
        fault = brief.element_tags.get("fault", "ok")
        if fault == "timeout":
            raise TransientProviderError("review request timed out after 60 s")
        if fault == "malformed_json":
            from agents.providers.base import Review

            parse_json('{"check_scores": {"V1": 9', Review, "review")
        return self.inner.review(png, brief, rubric, exemplars)


def fault_providers() -> DoubleProviders:
    return DoubleProviders(
        image=FaultyImage(),
        reviewer=FaultyReviewer(),
        second_reviewer=DoubleReviewer(second=True),
        embedder=AdEmbedder(),
        mode="faults",
    )


@dataclass
class Slow:
    """Wraps a provider: every call first sleeps a random 20-150 ms (so kill -9 lands
    mid-call)."""

    inner: Any
    name: str = "slow"

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(random.uniform(0.02, 0.15))
            return target(*args, **kwargs)

        return call


def slow_providers() -> DoubleProviders:
    base = double_providers("ok")
    return DoubleProviders(
        image=Slow(base.image),
        reviewer=Slow(base.reviewer),
        second_reviewer=Slow(base.second_reviewer),
        embedder=Slow(base.embedder),
        mode="slow",
    )


def insert_ads(
    conn: psycopg.Connection, product: uuid.UUID, tags: list[dict[str, str]]
) -> list[uuid.UUID]:
    """One run, one pending ad per tag set (prompt_index 1..n), each with a generate job."""
    run = conn.execute(
        "INSERT INTO ad_runs (product_id, max_attempts, attempts_count) VALUES (%s, %s, %s) "
        "RETURNING id",
        (product, len(tags), len(tags)),
    ).fetchone()[0]
    ads = []
    for i, t in enumerate(tags, start=1):
        ad = conn.execute(
            "INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, element_tags) "
            "VALUES (%s, %s, '1080x1080px', %s::jsonb) RETURNING id",
            (run, i, json.dumps(t)),
        ).fetchone()[0]
        conn.execute("SELECT genome.enqueue_job('generate', %s)", (ad,))
        ads.append(ad)
    return ads


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """A separate PostgreSQL 15 cluster in a temporary directory (server run as the postgres
    system user when root; unix socket only, in the same directory; random free port)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="genome-faults-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        self._pg(["initdb", "-D", str(self.data), "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        conf = "\n".join(
            [
                "listen_addresses = ''",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.dir}'",
                "fsync = off",
                "max_connections = 100",
                "log_min_messages = warning",
            ]
        )
        subprocess.run(
            [*_as_server_user(), "sh", "-c", f"cat >> '{self.data}/postgresql.conf'"],
            input=conf + "\n",
            text=True,
            check=True,
        )
        self.start()

    def _pg(self, cmd: list[str]) -> None:
        res = subprocess.run(
            [*_as_server_user(), str(PG_BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True
        )
        if res.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {res.stderr.strip()}")

    def start(self) -> None:
        self._pg(
            ["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.dir / "log")]
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg(["pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data)])

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.dir} port={self.port} user=postgres dbname={dbname}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    """An agent process (slow test-double providers) for the kill -9 and restart tests."""
    from agents.runtime import run_agents

    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument(
        "--lease-from-settings",
        action="store_true",
        help="read the lease from genome.settings, as `genome agents run` does",
    )
    parser.add_argument("--idle-exit", type=float, default=None)
    parser.add_argument("--storage", required=True)
    args = parser.parse_args()
    os.environ["GENOME_STORAGE_DIR"] = args.storage
    run_agents(
        args.dsn,
        None,
        args.concurrency,
        "offline",
        stop=None,
        idle_exit=args.idle_exit,
        providers=slow_providers(),
        lease_seconds=None if args.lease_from_settings else args.lease,
        poll_interval=0.3,
        probe_interval=0.5,
        drain_seconds=5,
    )


if __name__ == "__main__":
    main()
