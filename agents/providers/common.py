"""What the live providers share: one retry layer, strict JSON parsing, call records.

- `call_with_retry`: tenacity, exponential backoff with jitter, bounded attempts, retrying
  only what the caller classifies as transient (429, 5xx, timeouts, connection errors);
  after the last attempt a TransientProviderError (a ProviderError) is raised. The SDKs'
  own retries are switched off, so this is the only retry layer.
- `parse_json`: the model's text must be exactly one JSON object valid for the model
  (an enclosing ```json fence is tolerated); anything else is MalformedOutput with the
  raw text kept — never neutral values, never a pass.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from agents.providers.base import (
    CallRecord,
    MalformedOutput,
    ProviderError,
    Review,
    RubricCheck,
    TransientProviderError,
)
from agents.providers.settings import Price, RetrySettings

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Operation = Literal["generate", "defect_scan", "review", "describe", "embed"]

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)


def call_with_retry(
    fn: Callable[[], T],
    classify: Callable[[Exception], ProviderError | None],
    retry: RetrySettings,
    what: str,
) -> T:
    """Run `fn`; `classify` maps an SDK exception to TransientProviderError (retried),
    ProviderError (raised at once) or None (not ours: re-raised as is)."""

    def attempt() -> T:
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as exc:
            mapped = classify(exc)
            if mapped is None:
                raise
            raise mapped from exc

    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            initial=retry.initial_wait_s, max=retry.max_wait_s, jitter=retry.jitter_s
        ),
        retry=retry_if_exception_type(TransientProviderError),
        reraise=False,
    )
    try:
        return retrying(attempt)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise TransientProviderError(
            f"{what} failed after {retry.attempts} attempts: {last}"
        ) from last


def parse_json(raw: str | None, model: type[M], what: str) -> M:
    """Exactly one JSON object, valid for `model` in strict mode."""
    if raw is None or not raw.strip():
        raise MalformedOutput(f"{what}: empty output", raw or "")
    if "\ufffd" in raw:
        raise MalformedOutput(f"{what}: output is not valid UTF-8", raw)
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise MalformedOutput(f"{what}: {_summary(exc)}", raw) from exc


def _summary(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(map(str, e['loc'])) or 'output'}: {e['msg']}" for e in errors[:5]]
    return f"invalid structured output ({len(errors)} errors: {'; '.join(parts)})"


class ReviewWire(BaseModel):
    """The review as the model must write it."""

    model_config = ConfigDict(extra="forbid")

    check_scores: dict[str, float]
    notes: str = ""


def parse_review(raw: str | None, rubric: list[RubricCheck], what: str) -> Review:
    """A score in 0-10 for every rubric check and no other: else MalformedOutput."""
    wire = parse_json(raw, ReviewWire, what)
    text = raw or ""
    expected = {c.code for c in rubric}
    missing = expected - set(wire.check_scores)
    extra = set(wire.check_scores) - expected
    if missing:
        raise MalformedOutput(f"{what}: missing checks {sorted(missing)}", text)
    if extra:
        raise MalformedOutput(f"{what}: unknown checks {sorted(extra)}", text)
    try:
        return Review(check_scores=wire.check_scores, notes=wire.notes)
    except ValidationError as exc:
        raise MalformedOutput(f"{what}: {_summary(exc)}", text) from exc


class Timer:
    """Latency of one model call, and its CallRecord."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def record(
        self,
        provider: str,
        model: str,
        operation: Operation,
        price: Price,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> CallRecord:
        tin, tout = max(0, input_tokens or 0), max(0, output_tokens or 0)
        return CallRecord(
            provider=provider,
            model=model,
            operation=operation,
            latency_ms=max(0, round((time.perf_counter() - self.started) * 1000)),
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=price.cost(tin, tout),
        )
