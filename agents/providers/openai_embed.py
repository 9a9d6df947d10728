"""OpenAI text-embedding-3-small (1536 dimensions) of the descriptor text. A billed
answer that is unusable is a MalformedOutput carrying its call record (ok = false)."""

from __future__ import annotations

import json
import math

import openai

from agents.providers.base import (
    EMBEDDING_DIMENSIONS,
    EmbeddingResult,
    MalformedOutput,
    ProviderError,
    TransientProviderError,
)
from agents.providers.common import Timer, billed, call_with_retry
from agents.providers.settings import ProviderSettings

PROVIDER = "openai"
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def classify(exc: Exception) -> ProviderError | None:
    if isinstance(exc, openai.APITimeoutError):
        return TransientProviderError(f"openai timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return TransientProviderError(f"openai connection failed: {exc}")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500:
            return TransientProviderError(f"openai {exc.status_code}: {exc.message}")
        return ProviderError(f"openai {exc.status_code}: {exc.message}")
    if isinstance(exc, openai.APIResponseValidationError):
        return MalformedOutput(f"openai response did not match the API schema: {exc}", str(exc))
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return MalformedOutput("openai response body is not valid JSON/UTF-8", str(exc))
    return None


class OpenAIEmbedder:
    name = PROVIDER

    def __init__(self, settings: ProviderSettings, client: openai.OpenAI | None = None) -> None:
        self.settings = settings
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        # max_retries=0: tenacity (common.py) is the one retry layer.
        self.client = client or openai.OpenAI(
            api_key=key, max_retries=0, timeout=settings.timeout_s
        )

    def embed(self, text: str) -> EmbeddingResult:
        s = self.settings
        if not text.strip():
            raise MalformedOutput("nothing to embed", text)
        timer = Timer()

        def call() -> openai.types.CreateEmbeddingResponse:
            return self.client.embeddings.create(
                model=s.openai_embedding_model,
                input=text,
                dimensions=EMBEDDING_DIMENSIONS,
                encoding_format="float",
            )

        response = call_with_retry(call, classify, s.retry, "openai embedding")
        tokens = response.usage.prompt_tokens if response.usage else 0
        price = s.price(s.openai_embedding_model)

        def parse() -> list[float]:
            if not response.data:
                raise MalformedOutput("openai returned no embedding", response.model_dump_json())
            vector = response.data[0].embedding
            if not isinstance(vector, list) or len(vector) != EMBEDDING_DIMENSIONS:
                raise MalformedOutput(
                    f"openai embedding has {len(vector)} dimensions, "
                    f"expected {EMBEDDING_DIMENSIONS}",
                    response.model_dump_json()[:2000],
                )
            if not all(isinstance(x, float | int) and math.isfinite(x) for x in vector):
                raise MalformedOutput("openai embedding has non-finite values", str(vector[:16]))
            return [float(x) for x in vector]

        vector, record = billed(
            parse,
            lambda error: timer.record(
                PROVIDER, s.openai_embedding_model, "embed", price, tokens, 0, error
            ),
        )
        return EmbeddingResult(vector=vector, model=s.openai_embedding_model, call=record)
