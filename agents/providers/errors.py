"""The provider errors, apart from the pydantic models of agents/providers/base.py (which
re-exports them): the factory and the runtime name them at start without building those
models (docs/operations.md#start-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.providers.base import CallRecord


class ProviderError(RuntimeError):
    """A model call failed after the retries inside one attempt (the job attempt fails).

    `calls` holds the billed model calls of the failed attempt (a model that answered with
    an unusable output is billed all the same), so that fail_job records them with
    ok = false (docs/operations.md#prices)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.calls: list[CallRecord] = []


class TransientProviderError(ProviderError):
    """429, 5xx, timeouts: worth retrying inside the attempt."""


class MalformedOutput(ProviderError):
    """The model answered, but not with a valid structured output. Keeps the raw text."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(f"{message}; raw output: {raw[:2000]!r}")
        self.raw = raw
