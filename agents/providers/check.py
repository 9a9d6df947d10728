"""`genome providers check`: one minimal real call per provider with the configured keys
and models, a clear line per failure, a non-zero exit when any fails.

Per vendor: the configured key must be set; one small billed call to the model used most
(Gemini: a few tokens from the defect-scan model; Claude: a few tokens from the review
model; OpenAI: one embedding of a word), and for each other configured model of the vendor
a free metadata lookup (Gemini models.get, Anthropic models.retrieve), so that a mistyped
or withdrawn model id is named before an agent claims a job. No retries: a check reports
what it met. The SDKs read the usual base-URL variables (GOOGLE_GEMINI_BASE_URL,
ANTHROPIC_BASE_URL, OPENAI_BASE_URL), which is how the tests point them at a local fake
server. docs/operations.md#checking-the-providers
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from agents.providers.settings import KEY_NAMES, ProviderSettings, Vendor

CHECK_TIMEOUT_S = 20.0
T = TypeVar("T")


@dataclass(frozen=True)
class CheckLine:
    vendor: Vendor
    ok: bool
    problem: str  # 'ok', 'no key', 'key refused', 'unknown model', 'quota', 'network', 'error'
    detail: str

    def text(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        return f"{status} {self.vendor:<9} {self.problem}: {self.detail}"


def _status_of(exc: Exception) -> tuple[int | None, str]:
    """The HTTP status and the vendor's message of an SDK error (None for no response)."""
    code = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    body = getattr(exc, "body", None)  # anthropic / openai: the parsed error envelope
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        message = error["message"]
    return (int(code) if isinstance(code, int) else None), " ".join(str(message).split())[:300]


def classify(vendor: Vendor, model: str, exc: Exception) -> tuple[str, str]:
    """(problem, detail) for an exception met while checking `model`."""
    if isinstance(exc, httpx.TransportError) or type(exc).__name__ in (
        "APIConnectionError",
        "APITimeoutError",
    ):
        cause = exc.__cause__ or exc
        return "network", f"cannot reach {vendor} ({type(cause).__name__}: {cause})"[:400]
    status, message = _status_of(exc)
    if status == 404:
        return "unknown model", f"{model} ({status}: {message})"
    if status == 429:
        return "quota", f"quota or rate limit reached for {model} ({status}: {message})"
    if status in (401, 403) or (status == 400 and "API key" in message):
        return "key refused", f"{KEY_NAMES[vendor]} was refused ({status}: {message})"
    if status is None:
        return "error", f"{type(exc).__name__}: {message}"
    return "error", f"{model} ({status}: {message})"


def _gemini(settings: ProviderSettings) -> str:
    from google import genai
    from google.genai import types

    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(timeout=round(CHECK_TIMEOUT_S * 1000), retry_options=None),
    )
    model = settings.gemini_scan_model
    response, ms = _timed(
        lambda: client.models.generate_content(
            model=model,
            contents="Reply with the single word OK.",
            config=types.GenerateContentConfig(max_output_tokens=16),
        )
    )
    usage = response.usage_metadata
    tin = (usage.prompt_token_count or 0) if usage else 0
    tout = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
    cost = settings.price(model).cost(tin, tout)
    others = _others(settings, "gemini", model)
    for other in others:
        try:
            client.models.get(model=other)
        except Exception as exc:
            raise _ModelLookup(other, exc) from exc
    return _answered(model, ms, tin + tout, cost, others)


def _sdk(settings: ProviderSettings, vendor: Vendor) -> str:
    """Anthropic and OpenAI: their SDKs take the same client arguments; one small billed call
    (a few tokens from the review model, one embedding of a word)."""
    import anthropic
    import openai

    from agents.providers.base import EMBEDDING_DIMENSIONS

    secret = getattr(settings, f"{vendor}_api_key")
    key = secret.get_secret_value() if secret else None
    client_class = anthropic.Anthropic if vendor == "anthropic" else openai.OpenAI
    client: Any = client_class(api_key=key, max_retries=0, timeout=CHECK_TIMEOUT_S)
    if vendor == "anthropic":
        model = settings.claude_review_model
        message, ms = _timed(
            lambda: client.messages.create(
                model=model,
                max_tokens=8,
                messages=[{"role": "user", "content": "Reply with the single word OK."}],
            )
        )
        tin, tout = message.usage.input_tokens, message.usage.output_tokens
    else:
        model = settings.openai_embedding_model
        response, ms = _timed(
            lambda: client.embeddings.create(
                model=model, input="ok", dimensions=EMBEDDING_DIMENSIONS, encoding_format="float"
            )
        )
        dims = len(response.data[0].embedding) if response.data else 0
        if dims != EMBEDDING_DIMENSIONS:
            raise ValueError(f"{model} returned {dims} dimensions, expected {EMBEDDING_DIMENSIONS}")
        tin, tout = (response.usage.prompt_tokens if response.usage else 0), 0
    return _answered(model, ms, tin + tout, settings.price(model).cost(tin, tout), [])


def _timed(fn: Callable[[], T]) -> tuple[T, int]:
    started = time.perf_counter()
    result = fn()
    return result, round((time.perf_counter() - started) * 1000)


class _ModelLookup(Exception):
    """A configured model other than the one called was not found (or the lookup failed)."""

    def __init__(self, model: str, exc: Exception) -> None:
        super().__init__(str(exc))
        self.model, self.exc = model, exc


def _others(settings: ProviderSettings, vendor: Vendor, called: str) -> list[str]:
    prefix = {"gemini": "gemini_", "anthropic": "claude_", "openai": "openai_"}[vendor]
    return sorted(
        {m for role, m in settings.models().items() if role.startswith(prefix)} - {called}
    )


def _answered(model: str, ms: int, tokens: int, cost: float, others: list[str]) -> str:
    found = f"; {', '.join(others)} found" if others else ""
    return f"{model} answered in {ms} ms ({tokens} tokens, ${cost:.6f}){found}"


CHECKS: dict[Vendor, tuple[Callable[[ProviderSettings], str], str]] = {
    "gemini": (_gemini, "gemini_scan_model"),
    "anthropic": (lambda s: _sdk(s, "anthropic"), "claude_review_model"),
    "openai": (lambda s: _sdk(s, "openai"), "openai_embedding_model"),
}


def check(settings: ProviderSettings, vendors: Iterable[Vendor] | None = None) -> list[CheckLine]:
    """One line per vendor (default all three), in KEY_NAMES order."""
    wanted = set(vendors or KEY_NAMES)
    lines: list[CheckLine] = []
    for vendor in KEY_NAMES:
        if vendor not in wanted:
            continue
        if not settings.has_key(vendor):
            lines.append(CheckLine(vendor, False, "no key", f"{KEY_NAMES[vendor]} is not set"))
            continue
        run, role = CHECKS[vendor]
        model: Any = getattr(settings, role)
        try:
            lines.append(CheckLine(vendor, True, "ok", run(settings)))
        except _ModelLookup as exc:
            lines.append(CheckLine(vendor, False, *classify(vendor, exc.model, exc.exc)))
        except Exception as exc:  # every failure becomes a line, never a traceback
            lines.append(CheckLine(vendor, False, *classify(vendor, model, exc)))
    return lines
