"""Claude through the anthropic SDK: the full rubric review (first reviewer).

The answer's shape is Claude's native structured output (`output_config.format`, a JSON
schema generated from the same pydantic model the answer is validated against,
common.review_wire_model): the first text block is the JSON object. Claude's structured
outputs take no numeric bounds, so the 0-10 range is in the schema's descriptions and is
checked by parse_review. No temperature: current Claude models refuse sampling parameters
(https://platform.claude.com/docs/en/models/haiku-5-5/migration-guide, read 2026-12-04).
A billed answer that is cut off, refused or invalid is a MalformedOutput carrying its call
record (ok = false) for fail_job."""

from __future__ import annotations

import base64
import json

import anthropic

from agents.providers.base import (
    AdBrief,
    Exemplar,
    MalformedOutput,
    ProviderError,
    Review,
    ReviewResult,
    RubricCheck,
    TransientProviderError,
)
from agents.providers.common import (
    Timer,
    billed,
    call_with_retry,
    parse_review,
    review_wire_model,
    structured_schema,
)
from agents.providers.prompts import review_prompt
from agents.providers.settings import ProviderSettings

PROVIDER = "anthropic"
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
SYSTEM = "You are a meticulous ad-creative reviewer."


def classify(exc: Exception) -> ProviderError | None:
    if isinstance(exc, anthropic.APITimeoutError):
        return TransientProviderError(f"claude timed out: {exc}")
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientProviderError(f"claude connection failed: {exc}")
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500:
            return TransientProviderError(f"claude {exc.status_code}: {exc.message}")
        return ProviderError(f"claude {exc.status_code}: {exc.message}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return MalformedOutput(f"claude response did not match the API schema: {exc}", str(exc))
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return MalformedOutput("claude response body is not valid JSON/UTF-8", str(exc))
    return None


class ClaudeReviewer:
    name = PROVIDER

    def __init__(
        self, settings: ProviderSettings, client: anthropic.Anthropic | None = None
    ) -> None:
        self.settings = settings
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
        # max_retries=0: tenacity (common.py) is the one retry layer.
        self.client = client or anthropic.Anthropic(
            api_key=key, max_retries=0, timeout=settings.timeout_s
        )

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult:
        s = self.settings
        prompt = review_prompt(brief, rubric, exemplars)
        image = base64.b64encode(png).decode("ascii")
        schema = structured_schema(review_wire_model(rubric), constraints=False)
        timer = Timer()

        def call() -> anthropic.types.Message:
            return self.client.messages.create(
                model=s.claude_review_model,
                max_tokens=s.max_review_tokens,
                system=SYSTEM,
                output_config={"format": {"type": "json_schema", "schema": schema}},
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": image,
                                },
                            },
                            {"type": "text", "text": prompt},
                        ],
                    }
                ],
            )

        message = call_with_retry(call, classify, s.retry, "claude review")
        raw = "".join(block.text for block in message.content if block.type == "text")
        model = message.model or s.claude_review_model
        price = s.price(s.claude_review_model)
        usage = message.usage

        def parse() -> Review:
            if message.stop_reason == "max_tokens":
                raise MalformedOutput("claude review was cut off at max_tokens", raw)
            if message.stop_reason == "refusal":
                raise MalformedOutput("claude refused the review", raw)
            return parse_review(raw, rubric, "claude review")

        review, record = billed(
            parse,
            lambda error: timer.record(
                PROVIDER, model, "review", price, usage.input_tokens, usage.output_tokens, error
            ),
        )
        return ReviewResult(review=review, raw=raw, call=record)
