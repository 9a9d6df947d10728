"""Gemini through google-genai: image generation, the defect scan, visual descriptors,
and reviews (as the other model for second opinions).

Structured outputs use Gemini's native setting: `response_mime_type="application/json"`
with `response_json_schema`, the JSON-schema form of `response_schema`, generated from the
same pydantic models the answer is then validated against (common.structured_schema). A
billed answer that still fails validation is a MalformedOutput carrying its call record
(ok = false) for fail_job."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image
from pydantic import BaseModel

from agents.providers.base import (
    AdBrief,
    CallRecord,
    DefectScan,
    DefectScanResult,
    DescriptorResult,
    Exemplar,
    GeneratedImage,
    MalformedOutput,
    ProviderError,
    ReviewResult,
    RubricCheck,
    TransientProviderError,
    VisualDescriptor,
)
from agents.providers.common import (
    Operation,
    Timer,
    billed,
    call_with_retry,
    parse_json,
    parse_review,
    review_wire_model,
    structured_schema,
)
from agents.providers.prompts import (
    aspect_ratio,
    descriptor_prompt,
    image_prompt,
    review_prompt,
    scan_prompt,
)
from agents.providers.settings import ProviderSettings

PROVIDER = "gemini"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def classify(exc: Exception) -> ProviderError | None:
    if isinstance(exc, genai_errors.APIError):
        if exc.code in TRANSIENT_STATUS:
            return TransientProviderError(f"gemini {exc.code}: {exc.message or exc}")
        return ProviderError(f"gemini {exc.code}: {exc.message or exc}")
    if isinstance(exc, httpx.TimeoutException):
        return TransientProviderError(f"gemini timed out: {exc!r}")
    if isinstance(exc, httpx.TransportError):
        return TransientProviderError(f"gemini connection failed: {exc!r}")
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return MalformedOutput("gemini response body is not valid JSON/UTF-8", str(exc))
    return None


def make_client(settings: ProviderSettings, timeout_s: float) -> genai.Client:
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    # retry_options=None: the SDK makes one attempt; tenacity (common.py) retries.
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(timeout=round(timeout_s * 1000), retry_options=None),
    )


def _usage(response: types.GenerateContentResponse) -> tuple[int | None, int | None]:
    usage = response.usage_metadata
    if usage is None:
        return None, None
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return usage.prompt_token_count, output


def _png_part(png: bytes) -> types.Part:
    return types.Part.from_bytes(data=png, mime_type="image/png")


class _GeminiCalls:
    def __init__(self, settings: ProviderSettings, client: genai.Client | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings, settings.timeout_s)

    def _json_call(
        self, model: str, contents: list[types.Part | str], schema: type[BaseModel], what: str
    ) -> tuple[str | None, types.GenerateContentResponse]:
        # The vendor's default sampling: Gemini 3 models are tuned for temperature 1.0.
        config = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=structured_schema(schema),
        )

        def call() -> types.GenerateContentResponse:
            return self.client.models.generate_content(
                model=model, contents=contents, config=config
            )

        response = call_with_retry(call, classify, self.settings.retry, what)
        return response.text, response

    def _recorder(
        self,
        timer: Timer,
        model: str,
        operation: Operation,
        response: types.GenerateContentResponse,
    ) -> Callable[[Exception | None], CallRecord]:
        """The call record of a billed response, ok or failed with `error`."""
        tin, tout = _usage(response)
        price = self.settings.price(model)
        return lambda error: timer.record(PROVIDER, model, operation, price, tin, tout, error)


class GeminiImageModel(_GeminiCalls):
    """Image generation, defect scan and descriptor."""

    name = PROVIDER

    def __init__(
        self,
        settings: ProviderSettings,
        client: genai.Client | None = None,
        image_client: genai.Client | None = None,
    ) -> None:
        super().__init__(settings, client)
        self.image_client = image_client or (
            client if client is not None else make_client(settings, settings.image_timeout_s)
        )

    def generate(self, brief: AdBrief) -> GeneratedImage:
        s = self.settings
        prompt = image_prompt(brief)
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect_ratio(brief.canvas_size)),
        )
        timer = Timer()

        def call() -> types.GenerateContentResponse:
            return self.image_client.models.generate_content(
                model=s.gemini_image_model, contents=[prompt], config=config
            )

        response = call_with_retry(call, classify, s.retry, "gemini image generation")
        (png, width, height), record = billed(
            lambda: _image_from(response),
            self._recorder(timer, s.gemini_image_model, "generate", response),
        )
        return GeneratedImage(png=png, width=width, height=height, prompt_text=prompt, call=record)

    def defect_scan(self, png: bytes, brief: AdBrief) -> DefectScanResult:
        s = self.settings
        timer = Timer()
        what = "gemini defect scan"
        raw, response = self._json_call(
            s.gemini_scan_model, [_png_part(png), scan_prompt(brief)], _ScanWire, what
        )
        scan, record = billed(
            lambda: parse_json(raw, _ScanWire, what),
            self._recorder(timer, s.gemini_scan_model, "defect_scan", response),
        )
        return DefectScanResult(
            scan=DefectScan.model_validate(scan.model_dump()), raw=raw or "", call=record
        )

    def describe(self, png: bytes) -> DescriptorResult:
        s = self.settings
        timer = Timer()
        what = "gemini descriptor"
        raw, response = self._json_call(
            s.gemini_descriptor_model,
            [_png_part(png), descriptor_prompt()],
            VisualDescriptor,
            what,
        )
        descriptor, record = billed(
            lambda: parse_json(raw, VisualDescriptor, what),
            self._recorder(timer, s.gemini_descriptor_model, "describe", response),
        )
        return DescriptorResult(descriptor=descriptor, raw=raw or "", call=record)


class GeminiReviewer(_GeminiCalls):
    """The full rubric review by Gemini (the other model when Claude reviewed first)."""

    name = PROVIDER

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult:
        s = self.settings
        timer = Timer()
        prompt = review_prompt(brief, rubric, exemplars)
        what = "gemini review"
        raw, response = self._json_call(
            s.gemini_review_model, [_png_part(png), prompt], review_wire_model(rubric), what
        )
        review, record = billed(
            lambda: parse_review(raw, rubric, what),
            self._recorder(timer, s.gemini_review_model, "review", response),
        )
        return ReviewResult(review=review, raw=raw or "", call=record)


class _ScanWire(DefectScan):
    """The scan as the model must write it: every check present, booleans only."""

    text_garbled: bool
    anatomy_error: bool
    physics_violation: bool
    packaging_text_error: bool
    product_distortion: bool
    offer_hallucination: bool  # required here (the prompt asks for it)
    notes: str = ""


def _image_from(response: types.GenerateContentResponse) -> tuple[bytes, int, int]:
    """The first inline image of the response, as PNG, with its size."""
    texts: list[str] = []
    for candidate in response.candidates or []:
        for part in (candidate.content.parts if candidate.content else None) or []:
            if part.inline_data is not None and part.inline_data.data:
                try:
                    img = Image.open(io.BytesIO(part.inline_data.data))
                    img.load()
                except Exception as exc:  # any decoder error: not an image
                    raise MalformedOutput(
                        f"gemini image is not decodable ({exc})", repr(part.inline_data.data[:64])
                    ) from exc
                if img.format == "PNG":
                    return part.inline_data.data, img.width, img.height
                buf = io.BytesIO()
                img.convert("RGB").save(buf, format="PNG")
                return buf.getvalue(), img.width, img.height
            if part.text:
                texts.append(part.text)
    reason = ""
    if response.candidates and response.candidates[0].finish_reason:
        reason = f" (finish reason {response.candidates[0].finish_reason})"
    raise MalformedOutput(f"gemini returned no image{reason}", "\n".join(texts))
