"""Every billed model call is recorded, failed ones too (docs/operations.md#prices): the
pipeline hands a failed attempt's calls to fail_job, which writes them to provider_calls
with ok = false, the error class and the tokens."""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from agents.jobqueue import RejectedResult
from agents.pipeline import ExemplarSource, StageFailed, Stages
from agents.providers.base import (
    CallRecord,
    DescriptorResult,
    GeneratedImage,
    MalformedOutput,
)
from agents.runtime import AgentRuntime, RuntimeConfig
from agents.storage import Store, image_key
from tests.support.pipeline import DoubleImage, call, claim, make_ads, make_product


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 40), (200, 120, 160)).save(buf, format="PNG")
    return buf.getvalue()


def _record(operation: str, ok: bool = True, tokens: tuple[int, int] = (1500, 60)) -> CallRecord:
    return CallRecord(
        provider="gemini",
        model="gemini-3.5-flash-lite",
        operation=operation,  # type: ignore[arg-type]
        latency_ms=40,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=tokens[0] * 0.3e-6 + tokens[1] * 2.5e-6,
        ok=ok,
        error=None if ok else "MalformedOutput",
    )


def _malformed(operation: str) -> MalformedOutput:
    exc = MalformedOutput(f"{operation}: invalid structured output", '{"x": 1')
    exc.calls.append(_record(operation, ok=False, tokens=(1508, 16)))
    return exc


class _Image:
    """A Gemini stand-in: generate answers with a given image or fails as billed; describe
    answers; nothing else is called."""

    name = "gemini"

    def __init__(self, png: bytes | None) -> None:
        self.png = png

    def generate(self, brief: Any) -> GeneratedImage:
        if self.png is None:
            raise _malformed("generate")
        return GeneratedImage(
            png=self.png, width=32, height=40, prompt_text="p", call=_record("generate")
        )

    def describe(self, png: bytes) -> DescriptorResult:
        return DoubleImage().describe(png)


class _Embedder:
    name = "openai"

    def embed(self, text: str) -> Any:
        raise _malformed("embed")


class _Providers:
    def __init__(self, png: bytes | None) -> None:
        self.image = _Image(png)
        self.reviewer = self.second_reviewer = None
        self.embedder = _Embedder()
        self.mode = "live"


class _Queue:
    """The one queue call a failing stage makes: the job's context."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self.ctx = ctx

    def context(self, job_id: uuid.UUID) -> dict[str, Any]:
        return self.ctx


def _context(org: uuid.UUID, ad: uuid.UUID, storage_path: str | None) -> dict[str, Any]:
    return {
        "organization_id": str(org),
        "ad": {
            "id": str(ad),
            "element_tags": {"hook_type": "question"},
            "storage_path": storage_path,
        },
        "product": {"name": "GlowSerum", "current_offer": None, "benefits": []},
        "brand": {"name": "Lumen"},
        "rubric": [],
    }


def _run(tmp_path: Path, kind: str, png: bytes | None, stored: bool) -> StageFailed:
    org, ad = uuid.uuid4(), uuid.uuid4()
    key = image_key(org, ad)
    if stored:
        (tmp_path / key).parent.mkdir(parents=True)
        (tmp_path / key).write_bytes(_png())
    queue = _Queue(_context(org, ad, key if stored else None))
    stages = Stages(_Providers(png), queue, Store.directory(tmp_path), ExemplarSource(queue))  # type: ignore[arg-type]
    with pytest.raises(StageFailed) as exc:
        stages.run({"id": uuid.uuid4(), "kind": kind})
    return exc.value


def test_a_refused_generation_is_a_failed_billed_call(tmp_path: Path) -> None:
    failed = _run(tmp_path, "generate", None, stored=False)
    assert "MalformedOutput" in str(failed)
    assert [(c["operation"], c["ok"], c["error"], c["input_tokens"]) for c in failed.calls] == [
        ("generate", False, "MalformedOutput", 1508)
    ]


def test_an_image_that_is_no_png_is_a_failed_billed_call(tmp_path: Path) -> None:
    failed = _run(tmp_path, "generate", b"\x89PNG broken", stored=False)
    assert [(c["operation"], c["ok"], c["error"]) for c in failed.calls] == [
        ("generate", False, "InvalidImage")
    ]


def test_calls_made_before_the_failure_are_kept(tmp_path: Path) -> None:
    """An embed job describes (ok, billed) and then the embedding fails: both are recorded."""
    failed = _run(tmp_path, "embed", None, stored=True)
    assert [(c["operation"], c["ok"]) for c in failed.calls] == [
        ("describe", True),
        ("embed", False),
    ]


def test_fail_job_records_the_attempts_calls(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    job = claim(db, "generate")
    failed = call("generate", provider="gemini", model="gemini-3.1-flash-image") | {
        "ok": False,
        "error": "MalformedOutput",
        "input_tokens": 214,
        "output_tokens": 9,
        "cost_usd": 0.000647,
    }
    status = db.execute(
        "SELECT genome.fail_job(%s, 'w1', 'MalformedOutput: no image', p_calls => %s)",
        (job["id"], json.dumps([failed])),
    ).fetchone()[0]
    assert status == "queued"
    rows = db.execute(
        "SELECT agent_job_id, generated_ad_id, operation, ok, error, input_tokens, "
        "output_tokens, cost_usd::float8 FROM genome.provider_calls WHERE agent_job_id = %s",
        (job["id"],),
    ).fetchall()
    assert rows == [
        (job["id"], ad, "generate", False, "MalformedOutput", 214, 9, pytest.approx(0.000647))
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"ok": False}, "must name its error class"),
        ({"ok": "no"}, "call.ok must be true or false"),
        ({"ok": False, "error": 7}, "call.error must be text"),
    ],
)
def test_fail_job_refuses_a_malformed_call_and_writes_nothing(
    db: psycopg.Connection, bad: dict[str, Any], message: str
) -> None:
    p = make_product(db)
    make_ads(db, p["product"], 1)
    job = claim(db, "generate")
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.fail_job(%s, 'w1', 'boom', p_calls => %s)",
            (job["id"], json.dumps(call("generate") | bad)),
        )
    assert err.value.sqlstate == "GN408" and message in str(err.value)
    assert db.execute(
        "SELECT status, attempts FROM genome.agent_jobs WHERE id = %s", (job["id"],)
    ).fetchone() == ("running", 1)
    assert db.execute("SELECT count(*) FROM genome.provider_calls").fetchone()[0] == 0


class _RefusingQueue:
    """fail_job refuses the call records (as for GN408 / GN413) but not the failure."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, Any]] = []

    def fail(self, job_id: uuid.UUID, error: str, calls: Any = None) -> str:
        if calls:
            raise RejectedResult("[GN413] model call records is too large")
        self.failed.append((error, calls))
        return "queued"


def test_call_records_the_database_refuses_do_not_keep_the_job_leased() -> None:
    runtime = AgentRuntime("", RuntimeConfig(), _Providers(None), threading.Event())  # type: ignore[arg-type]
    jobs = _RefusingQueue()
    line = runtime._fail(jobs, {"id": uuid.uuid4()}, "boom", [call("generate")])  # type: ignore[arg-type]
    assert line["outcome"] == "retry" and jobs.failed == [("boom", None)]
