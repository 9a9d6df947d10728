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
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
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
        error: Exception | None = None,
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
            ok=error is None,
            error=None if error is None else type(error).__name__,
        )


def billed(
    fn: Callable[[], T], record: Callable[[Exception | None], CallRecord]
) -> tuple[T, CallRecord]:
    """Run `fn` (the parsing of an answer the model was paid for) and the call's record: when
    `fn` raises a ProviderError the record (ok = false, the error class, the tokens) goes
    with the error, so that the failed attempt is still recorded and priced."""
    try:
        value = fn()
    except ProviderError as exc:
        exc.calls.append(record(exc))
        raise
    return value, record(None)


def structured_schema(model: type[BaseModel], *, constraints: bool = True) -> dict[str, Any]:
    """The JSON schema the vendors' structured-output settings get, from a pydantic model:
    references inlined, every property required, no other property allowed, no titles or
    defaults. `constraints=False` moves numeric and length bounds into the description
    (Claude's structured outputs do not take them); the pydantic model still checks them
    when the answer is parsed, so a bound is never trusted to the vendor alone."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
        out = {k: walk(v) for k, v in node.items() if k not in ("title", "default")}
        if not constraints:
            bounds = {k: out.pop(k) for k in list(out) if k in _BOUNDS}
            if bounds:
                # `g`: the same text whether pydantic wrote the bound as 10 or 10.0 (2.5 did)
                text = ", ".join(f"{k} {v:g}" for k, v in bounds.items())
                out["description"] = f"{out.get('description', '')} ({text})".strip()
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    return dict(walk(schema))


_BOUNDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
     "maxItems"}
)  # fmt: skip


def review_wire_model(rubric: list[RubricCheck]) -> type[BaseModel]:
    """The review as the model must write it for this rubric: a score 0-10 for every check
    code and no other, and notes. Sent as the structured-output schema; the answer is then
    checked by parse_review (which names missing and unknown checks)."""
    fields: dict[str, Any] = {
        f"check_{i}": (float, Field(ge=0, le=10, alias=c.code, description=c.name))
        for i, c in enumerate(rubric)
    }
    scores = create_model(  # type: ignore[call-overload]
        "CheckScores", __config__=ConfigDict(extra="forbid", populate_by_name=True), **fields
    )
    return create_model(  # type: ignore[call-overload]
        "Review",
        __config__=ConfigDict(extra="forbid"),
        check_scores=(scores, ...),
        notes=(str, Field(description="one or two sentences on the weakest checks")),
    )
