"""Helpers shared by the queue, review, runtime and pipeline tests (no tests of its own):
tenant and ad rows inserted directly, SQL stage drivers, and deterministic test-double
providers that agent subprocesses load with `python -m tests.support.pipeline`."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from agents.providers.base import (
    AdBrief,
    CallRecord,
    DefectScan,
    DefectScanResult,
    DescriptorResult,
    EmbeddingResult,
    Exemplar,
    GeneratedImage,
    MalformedOutput,
    ProviderError,
    Review,
    ReviewResult,
    RubricCheck,
    VisualDescriptor,
)
from agents.settings import project_root
from sim import factories as f

CHECKS = [
    "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9",
    "C1", "C2", "C3", "C4", "C5", "G1", "G2",
]  # fmt: skip
CLEAN_SCAN = {
    "text_garbled": False,
    "anatomy_error": False,
    "physics_violation": False,
    "packaging_text_error": False,
    "product_distortion": False,
    "offer_hallucination": False,
}


def scores(default: float, **overrides: float) -> dict[str, float]:
    return {c: overrides.get(c, default) for c in CHECKS}


def call(operation: str, provider: str = "anthropic", model: str = "test-model") -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "operation": operation,
        "latency_ms": 12,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.005,
    }


def make_product(conn: psycopg.Connection, name: str = "Acme") -> dict[str, uuid.UUID]:
    org = f.org(conn, name)
    brand = f.brand(conn, org, name=name)
    product = f.product(conn, brand, f"{name} serum", benefits=["fast", "clean"])
    return {"organization": org, "brand": brand, "product": product}


def make_ads(
    conn: psycopg.Connection, product: uuid.UUID, n: int, *, enqueue: bool = True
) -> list[uuid.UUID]:
    """n pending ads in runs of up to 100 (prompt_index 1-100), each with a generate job."""
    ads: list[uuid.UUID] = []
    hooks = ["curiosity_gap", "social_proof", "urgency", "question", "bold_claim"]
    for start in range(0, n, 100):
        size = min(100, n - start)
        run = conn.execute(
            "INSERT INTO ad_runs (product_id, max_attempts, attempts_count) "
            "VALUES (%s, %s, %s) RETURNING id",
            (product, size, size),
        ).fetchone()[0]
        rows = conn.execute(
            """
            INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, element_tags)
            SELECT %s, i, '1080x1080px',
                   jsonb_build_object('hook_type', (%s::text[])[1 + i %% 5], 'color_mode', 'brand',
                                      'persona_id', (i %% 10)::text)
            FROM generate_series(1, %s) AS i
            RETURNING id
            """,
            (run, hooks, size),
        ).fetchall()
        ads.extend(r[0] for r in rows)
    if enqueue:
        conn.execute(
            "SELECT genome.enqueue_job('generate', id) FROM unnest(%s::uuid[]) AS id", (ads,)
        )
    return ads


def claim(
    conn: psycopg.Connection, kind: str, worker: str = "w1", lease: str = "60 seconds"
) -> dict[str, Any]:
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM genome.claim_jobs(%s, %s, %s::interval, 1)", ([kind], worker, lease)
        )
        .fetchall()
    )
    assert len(rows) == 1, f"expected one {kind} job to claim, got {len(rows)}"
    return rows[0]


def ad_status(conn: psycopg.Connection, ad: uuid.UUID) -> str:
    return conn.execute("SELECT final_status FROM generated_ads WHERE id = %s", (ad,)).fetchone()[0]


def drive_to_review(conn: psycopg.Connection, ad: uuid.UUID, worker: str = "w1") -> None:
    """Generate and scan (clean) one ad through the SQL writers (its generate job is queued
    here when it was not: enqueue_job is idempotent)."""
    conn.execute("SELECT genome.enqueue_job('generate', %s)", (ad,))
    job = claim(conn, "generate", worker)
    assert job["generated_ad_id"] == ad
    conn.execute(
        "SELECT genome.record_generation(%s, %s, %s, 'a prompt', %s)",
        (job["id"], worker, f"/tmp/{ad}.png", json.dumps(call("generate", "google"))),
    )
    job = claim(conn, "defect_scan", worker)
    conn.execute(
        "SELECT genome.record_defect_scan(%s, %s, %s, %s)",
        (job["id"], worker, json.dumps(CLEAN_SCAN), json.dumps(call("defect_scan", "google"))),
    )


def record_review(
    conn: psycopg.Connection,
    kind: str,
    check_scores: dict[str, float],
    worker: str = "w1",
    provider: str = "anthropic",
) -> str:
    job = claim(conn, kind, worker)
    return conn.execute(
        "SELECT genome.record_review(%s, %s, %s, %s)",
        (
            job["id"],
            worker,
            json.dumps({"check_scores": check_scores, "notes": "test"}),
            json.dumps(call("review", provider)),
        ),
    ).fetchone()[0]


def unit_vector(seed: str, base: list[float] | None = None, noise: float = 1.0) -> list[float]:
    """A deterministic unit vector; near `base` when noise is small."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    v = [rng.gauss(0, 1) * noise + (base[i] if base else 0.0) for i in range(1536)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


# --- test-double providers (deterministic by ad id) -------------------------------------


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


def _bucket(brief: AdBrief) -> int:
    """The test ads carry their bucket (prompt_index mod 10) as persona_id."""
    tag = brief.element_tags.get("persona_id")
    if tag is not None:
        return int(tag)
    return int(hashlib.sha256(str(brief.generated_ad_id).encode()).hexdigest(), 16) % 10


def _rec(op: str, provider: str = "offline") -> CallRecord:
    return CallRecord(provider=provider, model=f"{provider}-double", operation=op, latency_ms=1)  # type: ignore[arg-type]


@dataclass
class DoubleImage:
    """Bucket 0 has a critical defect; everything else is clean."""

    name: str = "double-image"
    fail: frozenset[str] = frozenset()
    hang_on: str = ""

    def _maybe(self, op: str) -> None:
        if op == self.hang_on:
            time.sleep(3600)
        if op in self.fail:
            raise ProviderError(f"{op}: the test provider always fails")

    def generate(self, brief: AdBrief) -> GeneratedImage:
        self._maybe("generate")
        return GeneratedImage(
            png=_png(),
            width=8,
            height=8,
            prompt_text=f"ad {brief.generated_ad_id}",
            call=_rec("generate"),
        )

    def defect_scan(self, png: bytes, brief: AdBrief) -> DefectScanResult:
        self._maybe("defect_scan")
        scan = DefectScan(**{**CLEAN_SCAN, "text_garbled": _bucket(brief) == 0})
        return DefectScanResult(scan=scan, raw=scan.model_dump_json(), call=_rec("defect_scan"))

    def describe(self, png: bytes) -> DescriptorResult:
        self._maybe("embed")
        d = VisualDescriptor(
            dominant_colors=["red"],
            color_temperature="warm",
            composition_type="centered",
            text_density=0.2,
            visual_style="flat",
            subject_position="center",
            negative_space_ratio=0.4,
            mood="bold",
        )
        return DescriptorResult(descriptor=d, raw=d.model_dump_json(), call=_rec("describe"))


@dataclass
class DoubleReviewer:
    """First review: buckets 1-2 borderline, 3 reject, else approve. Second opinion:
    bucket 1 approves, bucket 2 borderline. `malformed` returns output that fails checks."""

    name: str = "double-reviewer"
    second: bool = False
    fail: bool = False
    hang: bool = False

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult:
        if self.hang:
            time.sleep(3600)
        if self.fail:
            raise MalformedOutput("no JSON object in the answer", raw="I think this ad is fine")
        b = _bucket(brief)
        if self.second:
            value = 8.0 if b == 1 else 6.0
        else:
            value = 6.0 if b in (1, 2) else (4.0 if b == 3 else 8.5)
        review = Review(check_scores={c.code: value for c in rubric})
        return ReviewResult(review=review, raw=review.model_dump_json(), call=_rec("review"))


@dataclass
class AdEmbedder:
    """Random (near-orthogonal) unit vectors per call: no duplicates, no diversity clashes."""

    name: str = "double-embedder"

    def embed(self, text: str) -> EmbeddingResult:
        vec = unit_vector(f"{text}-{uuid.uuid4()}")
        return EmbeddingResult(vector=vec, model="double-embed-1", call=_rec("embed"))


@dataclass
class DoubleProviders:
    image: Any
    reviewer: Any
    second_reviewer: Any
    embedder: Any
    mode: str = "double"


def double_providers(mode: str) -> DoubleProviders:
    """ok: the bucketed doubles; fail-generate / fail-review: that stage always fails;
    hang-review: the review call never returns (for kill -9)."""
    fail = frozenset({"generate"}) if mode == "fail-generate" else frozenset()
    return DoubleProviders(
        image=DoubleImage(fail=fail),
        reviewer=DoubleReviewer(fail=mode == "fail-review", hang=mode == "hang-review"),
        second_reviewer=DoubleReviewer(second=True),
        embedder=AdEmbedder(),
    )


def main() -> None:
    """An agent process with test-double providers (used by the multi-process tests)."""
    from agents.runtime import run_agents

    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--idle-exit", type=float, default=None)
    parser.add_argument("--probe", type=float, default=1.0)
    parser.add_argument("--drain", type=float, default=30.0)
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
        providers=double_providers(args.mode),
        lease_seconds=args.lease,
        poll_interval=args.poll,
        probe_interval=args.probe,
        drain_seconds=args.drain,
    )


if __name__ == "__main__":
    main()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` every 0.2 s until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class AgentProcesses:
    """Agent subprocesses running `python -m module` (a test-support module whose __main__
    runs agents with test-double providers); ends only the ones it started."""

    def __init__(self, module: str, dsn: str, tmp: Path) -> None:
        self.module = module
        self.dsn = dsn
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"agent-{len(self.procs)}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    "--dsn",
                    self.dsn,
                    "--storage",
                    str(self.tmp / "img"),
                    *args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=project_root(),
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines of every agent started so far."""
        return [
            json.loads(raw)
            for log in self.logs
            for raw in log.read_text().splitlines()
            if raw.startswith("{")
        ]

    def stop_all(self) -> None:
        for proc in self.alive():
            proc.kill()
            proc.wait(10)
