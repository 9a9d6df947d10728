"""`genome providers check` against a local fake HTTP server serving the recorded vendor
responses (tests/recorded/): the SDKs make their real requests to it through the vendors'
base-URL variables. One line per provider, a clear reason per failure (no key, key refused,
unknown model, quota, network) and a non-zero exit when any fails. No network, no key."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from agents import cli

RECORDED = Path(__file__).parent / "recorded"
KEYS = {"GEMINI_API_KEY": "g-key", "ANTHROPIC_API_KEY": "a-key", "OPENAI_API_KEY": "o-key"}
# what the fake server answers, by (method, path): (status, recorded file)
HEALTHY = {
    ("POST", "/v1beta/models/gemini-3.5-flash-lite:generateContent"): (
        200,
        "gemini_generate_check_ok.json",
    ),
    ("GET", "/v1beta/models/gemini-3.1-flash-image"): (200, "gemini_model_get.json"),
    ("GET", "/v1beta/models/gemini-3.8-flash"): (200, "gemini_model_get.json"),
    ("POST", "/v1/messages"): (200, "anthropic_messages_check_ok.json"),
    ("POST", "/v1/embeddings"): (200, "openai_embeddings_ok.json"),
}


class _Vendors(BaseHTTPRequestHandler):
    routes: ClassVar[dict[tuple[str, str], tuple[int, str]]] = {}
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        self.seen.append((method, path, {k.lower(): v for k, v in self.headers.items()}))
        status, name = self.routes.get((method, path), (404, "gemini_error_404.json"))
        body = (RECORDED / name).read_bytes()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vendors(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Vendors]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Vendors)
    _Vendors.routes, _Vendors.seen = dict(HEALTHY), []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("GOOGLE_API_KEY", *KEYS, "GENOME_PROVIDER", "GENOME_PRICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", base)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
    yield _Vendors
    server.shutdown()
    server.server_close()


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = cli.main(["providers", "check", *args])
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()


def test_every_provider_answers(vendors, capsys) -> None:
    code, lines = _check(capsys)
    assert code == 0
    assert lines[0].startswith("ok   gemini    ok: gemini-3.5-flash-lite answered in ")
    assert "(11 tokens, $0.000008)" in lines[0]  # 9 in at $0.30, 2 out at $2.50 per million
    assert lines[0].endswith("; gemini-3.1-flash-image, gemini-3.8-flash found")
    assert lines[1].startswith("ok   anthropic ok: claude-haiku-5-5 answered in ")
    assert lines[2].startswith("ok   openai    ok: text-embedding-3-small answered in ")
    assert lines[3] == "genome providers check: 3 of 3 providers ok"
    # real requests, with the configured keys and models, and nothing else
    posts = {(m, p) for m, p, _ in vendors.seen}
    assert posts == set(HEALTHY)
    headers = {p: h for _, p, h in vendors.seen}
    assert headers["/v1/messages"]["x-api-key"] == "a-key"
    assert headers["/v1/embeddings"]["authorization"] == "Bearer o-key"
    assert headers["/v1beta/models/gemini-3.8-flash"]["x-goog-api-key"] == "g-key"


def test_a_missing_key_fails_without_a_call(vendors, capsys, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, lines = _check(capsys)
    assert code == 1
    assert "FAIL anthropic no key: ANTHROPIC_API_KEY is not set" in lines
    assert lines[-1] == "genome providers check: 2 of 3 providers ok"
    assert not any(p == "/v1/messages" for _, p, _ in vendors.seen)


@pytest.mark.parametrize(
    ("route", "answer", "vendor", "expected"),
    [
        (
            ("GET", "/v1beta/models/gemini-3.1-flash-image"),
            (404, "gemini_error_404.json"),
            "gemini",
            "FAIL gemini    unknown model: gemini-3.1-flash-image (404: models/gemini-2.5-flash "
            "is not found",
        ),
        (
            ("POST", "/v1/messages"),
            (404, "anthropic_error_404.json"),
            "anthropic",
            "FAIL anthropic unknown model: claude-haiku-5-5 (404: model: claude-haiku-9",
        ),
        (
            ("POST", "/v1/embeddings"),
            (429, "openai_error_429_quota.json"),
            "openai",
            "FAIL openai    quota: quota or rate limit reached for text-embedding-3-small "
            "(429: You exceeded your current quota",
        ),
        (
            ("POST", "/v1beta/models/gemini-3.5-flash-lite:generateContent"),
            (429, "gemini_error_429.json"),
            "gemini",
            "FAIL gemini    quota: quota or rate limit reached for gemini-3.5-flash-lite (429:",
        ),
        (
            ("POST", "/v1beta/models/gemini-3.5-flash-lite:generateContent"),
            (400, "gemini_error_400.json"),
            "gemini",
            "FAIL gemini    key refused: GEMINI_API_KEY (or GOOGLE_API_KEY) was refused (400: "
            "API key not valid",
        ),
        (
            ("POST", "/v1/messages"),
            (401, "anthropic_error_401.json"),
            "anthropic",
            "FAIL anthropic key refused: ANTHROPIC_API_KEY was refused (401:",
        ),
    ],
)
def test_each_failure_has_its_line_and_a_nonzero_exit(
    vendors, capsys, route, answer, vendor, expected
) -> None:
    vendors.routes[route] = answer
    code, lines = _check(capsys, "--only", vendor)
    assert code == 1
    assert len(lines) == 2 and lines[0].startswith(expected), lines
    assert lines[1] == "genome providers check: 0 of 1 providers ok"


def test_an_unreachable_vendor_is_a_network_failure(vendors, capsys, monkeypatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    code, lines = _check(capsys)
    assert code == 1
    assert [line.split()[:3] for line in lines[:3]] == [
        ["ok", "gemini", "ok:"],
        ["ok", "anthropic", "ok:"],
        ["FAIL", "openai", "network:"],
    ]
    assert "cannot reach openai (ConnectError" in lines[2]


def test_an_unpriced_model_is_refused_before_any_call(vendors, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GENOME_CLAUDE_REVIEW_MODEL", "claude-haiku-6")
    code, lines = _check(capsys)
    assert code == 2
    assert any("no price for model(s) claude-haiku-6" in line for line in lines)
    assert vendors.seen == []


def test_the_recorded_responses_are_distinct_and_well_formed() -> None:
    """Every recorded success has its own response id and consistent, non-negative tokens."""
    ids = []
    for path in sorted(RECORDED.glob("*.json")):
        body = json.loads(path.read_text())
        if "usageMetadata" in body:
            usage = body["usageMetadata"]
            ids.append(body["responseId"])
            details = sum(d["tokenCount"] for d in usage["promptTokensDetails"])
            assert usage["promptTokenCount"] == details, path.name
            assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage.get(
                "candidatesTokenCount", 0
            ) + usage.get("thoughtsTokenCount", 0), path.name
            assert body["modelVersion"].startswith("gemini-3"), path.name
        if body.get("type") == "message":
            ids.append(body["id"])
            assert body["id"].startswith("msg_01") and len(body["id"]) == 28
            assert body["model"] == "claude-haiku-5-5"
        if body.get("type") == "error":
            ids.append(body["request_id"])
        for value in json.dumps(body).split('"tokenCount": ')[1:]:
            assert not value.startswith("-"), path.name
    assert len(ids) == len(set(ids)) > 20
