"""Live providers through the real SDK code paths, against recorded HTTP responses (respx).

No network: respx intercepts httpx at the exact endpoints the SDKs call.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import respx

from agents.providers.anthropic_review import ClaudeReviewer
from agents.providers.base import (
    AdBrief,
    Exemplar,
    MalformedOutput,
    ProviderError,
    RubricCheck,
    TransientProviderError,
)
from agents.providers.gemini import GeminiImageModel, GeminiReviewer
from agents.providers.openai_embed import OpenAIEmbedder
from agents.providers.settings import ProviderSettings, RetrySettings

RECORDED = Path(__file__).parent / "recorded"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
OPENAI_URL = "https://api.openai.com/v1/embeddings"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/{}:generateContent"
IMAGE_MODEL, FAST_MODEL, REVIEW_MODEL = (
    "gemini-3.1-flash-image",
    "gemini-3.5-flash-lite",
    "gemini-3.8-flash",
)
ON = date(2026, 12, 4)  # prices as read that day (settings.PRICES)

WEIGHTS = {"V1": 1.5, "V2": 1.5, "V3": 1.0, "V4": 0.8, "V5": 0.8, "V6": 1.0, "V7": 1.0,
           "V8": 0.8, "V9": 1.2, "C1": 1.0, "C2": 0.8, "C3": 0.8, "C4": 0.8, "C5": 1.5,
           "G1": 1.0, "G2": 0.8}  # fmt: skip
NAMES = {"V9": "AI artifacts", "C5": "offer accuracy"}
RUBRIC = [
    RubricCheck(code=c, name=NAMES.get(c, f"check {c}"), weight=w) for c, w in WEIGHTS.items()
]
EXEMPLARS = [
    Exemplar(
        exemplar_type="gold_reject",
        visual_description="plum bottle, garbled headline",
        quality_notes="text unreadable",
        check_scores={"V2": 2.0},
    )
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, json=recorded(name))


def err(status: int, name: str) -> httpx.Response:
    return httpx.Response(status, json=recorded(name))


@pytest.fixture
def settings() -> ProviderSettings:
    return ProviderSettings(
        mode="live",
        gemini_api_key="test-gemini-key",
        anthropic_api_key="test-anthropic-key",
        openai_api_key="test-openai-key",
        timeout_s=5,
        image_timeout_s=5,
        retry=RetrySettings(attempts=3, initial_wait_s=0, max_wait_s=0, jitter_s=0),
    )


@pytest.fixture
def brief() -> AdBrief:
    return AdBrief(
        generated_ad_id=uuid.UUID(int=7),
        brand_name="Lumen",
        product_name="GlowSerum",
        current_offer="20% off",
        benefits=["Brighter skin"],
        element_tags={"hook_type": "statistic", "color_mode": "brand"},
        canvas_size="1080x1350px",
        prompt_text="A bright lifestyle ad for GlowSerum.",
    )


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


# --- Claude review ----------------------------------------------------------------------


def test_claude_review_parses_and_records_cost(settings, brief, mock) -> None:
    route = mock.post(ANTHROPIC_URL).mock(return_value=ok("anthropic_messages_review_ok.json"))
    result = ClaudeReviewer(settings).review(PNG, brief, RUBRIC, EXEMPLARS)
    assert result.review.check_scores["V1"] == 8.5 and len(result.review.check_scores) == 16
    assert result.call.provider == "anthropic" and result.call.ok and result.call.error is None
    assert result.call.model == "claude-haiku-5-5"
    assert (result.call.input_tokens, result.call.output_tokens) == (3112, 286)
    assert result.call.cost_usd == pytest.approx(3112 * 0.10e-6 + 286 * 0.50e-6)
    assert json.loads(result.raw)["notes"].startswith("Clean layout")
    request = route.calls.last.request
    assert request.headers["x-api-key"] == "test-anthropic-key"
    body = json.loads(request.content)
    assert body["model"] == "claude-haiku-5-5"
    assert "temperature" not in body  # current Claude models refuse sampling parameters
    # Claude's native structured output, from the same pydantic model, one score per check
    schema = body["output_config"]["format"]["schema"]
    assert body["output_config"]["format"]["type"] == "json_schema"
    scores = schema["properties"]["check_scores"]
    assert scores["required"] == [c.code for c in RUBRIC] and not scores["additionalProperties"]
    assert scores["properties"]["V9"] == {
        "type": "number",
        "description": "AI artifacts (maximum 10, minimum 0)",
    }
    assert schema["required"] == ["check_scores", "notes"]
    image, text_block = body["messages"][0]["content"]
    text = text_block["text"]
    assert image["source"]["data"] == base64.b64encode(PNG).decode()
    assert "V9 AI artifacts (weight 1.2)" in text and "C5 offer accuracy (weight 1.5)" in text
    assert "garbled headline" in text and "gold_reject" in text  # the exemplars
    assert "Current offer: 20% off" in text


def test_claude_review_tolerates_an_enclosing_json_fence(settings, brief, mock) -> None:
    mock.post(ANTHROPIC_URL).mock(return_value=ok("anthropic_messages_review_fenced.json"))
    result = ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert result.review.check_scores["C5"] == 9.5


def test_claude_429_then_success_is_retried(settings, brief, mock) -> None:
    route = mock.post(ANTHROPIC_URL).mock(
        side_effect=[err(429, "anthropic_error_429.json"), ok("anthropic_messages_review_ok.json")]
    )
    result = ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert route.call_count == 2
    assert result.review.check_scores["V9"] == 9.0


@pytest.mark.parametrize(
    ("status", "body"), [(500, "anthropic_error_500.json"), (529, "anthropic_error_529.json")]
)
def test_claude_5xx_every_time_fails_after_bounded_retries(
    settings, brief, mock, status, body
) -> None:
    route = mock.post(ANTHROPIC_URL).mock(return_value=err(status, body))
    with pytest.raises(ProviderError, match="after 3 attempts") as exc:
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert isinstance(exc.value, TransientProviderError)
    assert route.call_count == 3  # the SDK's own retries are off: tenacity's 3 only


def test_claude_timeout_is_a_provider_error(settings, brief, mock) -> None:
    route = mock.post(ANTHROPIC_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(ProviderError, match="timed out"):
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert route.call_count == 3


def test_claude_400_is_not_retried(settings, brief, mock) -> None:
    route = mock.post(ANTHROPIC_URL).mock(return_value=err(400, "anthropic_error_400.json"))
    with pytest.raises(ProviderError, match="400") as exc:
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert not isinstance(exc.value, TransientProviderError | MalformedOutput)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("anthropic_messages_review_missing_check.json", "missing checks \\['C5'\\]"),
        ("anthropic_messages_review_prose.json", "invalid structured output"),
        ("anthropic_messages_review_out_of_range.json", "outside 0-10"),
        ("anthropic_messages_review_truncated.json", "max_tokens"),
        ("anthropic_messages_review_empty.json", "empty output"),
    ],
)
def test_claude_malformed_review_keeps_raw_and_is_never_a_score(
    settings, brief, mock, name, message
) -> None:
    route = mock.post(ANTHROPIC_URL).mock(return_value=ok(name))
    with pytest.raises(MalformedOutput, match=message) as exc:
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert exc.value.raw == recorded(name)["content"][0]["text"]
    assert route.call_count == 1  # malformed output is a failed attempt, not a retry loop
    # billed all the same: the failed call goes with the error, for fail_job to record
    (call,) = exc.value.calls
    usage = recorded(name)["usage"]
    assert (call.ok, call.error, call.model) == (False, "MalformedOutput", "claude-haiku-5-5")
    assert (call.input_tokens, call.output_tokens) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )
    assert call.cost_usd == pytest.approx(
        usage["input_tokens"] * 0.10e-6 + usage["output_tokens"] * 0.50e-6
    )


def test_claude_refusal_is_malformed_and_recorded(settings, brief, mock) -> None:
    mock.post(ANTHROPIC_URL).mock(return_value=ok("anthropic_messages_review_refusal.json"))
    with pytest.raises(MalformedOutput, match="refused") as exc:
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert [(c.ok, c.output_tokens) for c in exc.value.calls] == [(False, 9)]


def test_http_errors_are_not_billed_calls(settings, brief, mock) -> None:
    mock.post(ANTHROPIC_URL).mock(return_value=err(400, "anthropic_error_400.json"))
    with pytest.raises(ProviderError) as exc:
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])
    assert exc.value.calls == []


def test_claude_extra_check_is_malformed(settings, brief, mock) -> None:
    body = recorded("anthropic_messages_review_ok.json")
    review = json.loads(body["content"][0]["text"])
    review["check_scores"]["Z1"] = 5.0
    body["content"][0]["text"] = json.dumps(review)
    mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(MalformedOutput, match="unknown checks \\['Z1'\\]"):
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])


def test_claude_string_scores_are_malformed(settings, brief, mock) -> None:
    body = recorded("anthropic_messages_review_ok.json")
    review = json.loads(body["content"][0]["text"])
    review["check_scores"]["V1"] = "8.5"
    body["content"][0]["text"] = json.dumps(review)
    mock.post(ANTHROPIC_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(MalformedOutput, match=r"check_scores\.V1"):
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])


def test_claude_body_that_is_not_json_or_utf8_is_an_error_not_a_pass(settings, brief, mock) -> None:
    mock.post(ANTHROPIC_URL).mock(
        return_value=httpx.Response(
            200, content=b'{"content": "\xff\xfe\xfd', headers={"content-type": "application/json"}
        )
    )
    with pytest.raises(MalformedOutput, match="not valid JSON/UTF-8"):
        ClaudeReviewer(settings).review(PNG, brief, RUBRIC, [])


# --- Gemini -------------------------------------------------------------------------------


def test_gemini_scan_parses_and_records(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(FAST_MODEL)).mock(
        return_value=ok("gemini_generate_scan_defect.json")
    )
    result = GeminiImageModel(settings).defect_scan(PNG, brief)
    assert result.scan.text_garbled and not result.scan.product_distortion
    assert result.call.provider == "gemini" and result.call.model == FAST_MODEL
    assert result.call.operation == "defect_scan"
    assert (result.call.input_tokens, result.call.output_tokens) == (1508, 58)
    assert result.call.cost_usd == pytest.approx(1508 * 0.3e-6 + 58 * 2.5e-6)
    request = route.calls.last.request
    assert request.headers["x-goog-api-key"] == "test-gemini-key"
    body = json.loads(request.content)
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    # Gemini's native structured output, from the same pydantic model
    schema = body["generationConfig"]["responseJsonSchema"]
    assert schema["required"] == [
        "text_garbled", "anatomy_error", "physics_violation", "packaging_text_error",
        "product_distortion", "offer_hallucination", "notes",
    ]  # fmt: skip
    assert schema["properties"]["anatomy_error"] == {"type": "boolean"}
    assert schema["additionalProperties"] is False
    parts = body["contents"][0]["parts"]
    assert parts[0]["inlineData"]["mimeType"] == "image/png"
    assert "offer_hallucination" in parts[1]["text"] and "20% off" in parts[1]["text"]


def test_gemini_descriptor_parses(settings, mock) -> None:
    mock.post(GEMINI.format(FAST_MODEL)).mock(return_value=ok("gemini_generate_descriptor_ok.json"))
    result = GeminiImageModel(settings).describe(PNG)
    assert result.descriptor.color_temperature == "warm"
    assert result.descriptor.negative_space_ratio == 0.48
    assert result.call.operation == "describe"
    assert (result.call.input_tokens, result.call.output_tokens) == (1284, 71)


def test_gemini_second_opinion_review(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(REVIEW_MODEL)).mock(
        return_value=ok("gemini_generate_review_ok.json")
    )
    result = GeminiReviewer(settings).review(PNG, brief, RUBRIC, EXEMPLARS)
    assert result.review.check_scores["V4"] == 6.5
    assert result.call.model == REVIEW_MODEL
    # thinking tokens are billed as output
    assert (result.call.input_tokens, result.call.output_tokens) == (2492, 236 + 418)
    price = settings.price(REVIEW_MODEL, ON)
    assert result.call.cost_usd == pytest.approx(2492 * 0.75e-6 + 654 * 3.75e-6)
    assert price.cost(2492, 654) < settings.price(REVIEW_MODEL, date(2027, 1, 1)).cost(2492, 654)
    body = json.loads(route.calls.last.request.content)
    text = body["contents"][0]["parts"][1]["text"]
    assert "V9 AI artifacts (weight 1.2)" in text and "garbled headline" in text
    scores = body["generationConfig"]["responseJsonSchema"]["properties"]["check_scores"]
    assert scores["properties"]["C5"] == {
        "type": "number", "minimum": 0, "maximum": 10, "description": "offer accuracy"
    }  # fmt: skip


def test_gemini_image_generation(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(IMAGE_MODEL)).mock(
        return_value=ok("gemini_generate_image_ok.json")
    )
    image = GeminiImageModel(settings).generate(brief)
    assert image.png.startswith(b"\x89PNG") and (image.width, image.height) == (64, 80)
    assert image.call.operation == "generate" and image.call.output_tokens == 1125
    assert image.call.cost_usd == pytest.approx(214 * 0.5e-6 + 1125 * 60e-6)
    body = json.loads(route.calls.last.request.content)
    assert body["generationConfig"]["responseModalities"] == ["IMAGE"]
    assert body["generationConfig"]["imageConfig"]["aspectRatio"] == "4:5"
    assert "A bright lifestyle ad for GlowSerum." in body["contents"][0]["parts"][0]["text"]


def test_gemini_image_refusal_is_malformed_with_the_text(settings, brief, mock) -> None:
    mock.post(GEMINI.format(IMAGE_MODEL)).mock(
        return_value=ok("gemini_generate_image_refused.json")
    )
    with pytest.raises(MalformedOutput, match="no image") as exc:
        GeminiImageModel(settings).generate(brief)
    assert exc.value.raw == "I can't create that image."
    (call,) = exc.value.calls  # the refusal was billed: recorded as a failed call
    assert (call.ok, call.error, call.operation, call.model) == (
        False, "MalformedOutput", "generate", IMAGE_MODEL
    )  # fmt: skip
    assert (call.input_tokens, call.output_tokens) == (214, 9)


def test_gemini_429_then_success_is_retried(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(FAST_MODEL)).mock(
        side_effect=[err(429, "gemini_error_429.json"), ok("gemini_generate_scan_ok.json")]
    )
    result = GeminiImageModel(settings).defect_scan(PNG, brief)
    assert route.call_count == 2
    assert not any([result.scan.text_garbled, result.scan.anatomy_error])


def test_gemini_500_every_time_fails_after_bounded_retries(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(FAST_MODEL)).mock(
        return_value=err(500, "gemini_error_500.json")
    )
    with pytest.raises(TransientProviderError, match="after 3 attempts"):
        GeminiImageModel(settings).defect_scan(PNG, brief)
    assert route.call_count == 3


def test_gemini_timeout_is_a_provider_error(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(FAST_MODEL)).mock(
        side_effect=httpx.ConnectTimeout("connect timed out")
    )
    with pytest.raises(ProviderError, match="timed out"):
        GeminiImageModel(settings).defect_scan(PNG, brief)
    assert route.call_count == 3


def test_gemini_400_is_not_retried(settings, brief, mock) -> None:
    route = mock.post(GEMINI.format(FAST_MODEL)).mock(
        return_value=err(400, "gemini_error_400.json")
    )
    with pytest.raises(ProviderError, match="400"):
        GeminiImageModel(settings).defect_scan(PNG, brief)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gemini_generate_scan_missing_check.json", "product_distortion: Field required"),
        ("gemini_generate_scan_wrong_type.json", "anatomy_error"),
        ("gemini_generate_scan_malformed.json", "invalid structured output"),
        ("gemini_generate_empty.json", "empty output"),
    ],
)
def test_gemini_malformed_scan_is_never_a_pass(settings, brief, mock, name, message) -> None:
    mock.post(GEMINI.format(FAST_MODEL)).mock(return_value=ok(name))
    with pytest.raises(MalformedOutput, match=message) as exc:
        GeminiImageModel(settings).defect_scan(PNG, brief)
    parts = recorded(name)["candidates"][0]["content"].get("parts", [])
    assert exc.value.raw == "".join(p["text"] for p in parts)
    usage = recorded(name)["usageMetadata"]
    assert [(c.ok, c.input_tokens, c.output_tokens) for c in exc.value.calls] == [
        (False, usage["promptTokenCount"], usage["candidatesTokenCount"])
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gemini_generate_descriptor_extra_field.json", "lighting: Extra inputs"),
        ("gemini_generate_descriptor_out_of_range.json", "negative_space_ratio"),
    ],
)
def test_gemini_malformed_descriptor(settings, mock, name, message) -> None:
    mock.post(GEMINI.format(FAST_MODEL)).mock(return_value=ok(name))
    with pytest.raises(MalformedOutput, match=message):
        GeminiImageModel(settings).describe(PNG)


# --- OpenAI embeddings ------------------------------------------------------------------


def test_openai_embedding_parses(settings, mock) -> None:
    route = mock.post(OPENAI_URL).mock(return_value=ok("openai_embeddings_ok.json"))
    result = OpenAIEmbedder(settings).embed("colors: cream, plum; temperature: warm")
    assert len(result.vector) == 1536
    assert sum(x * x for x in result.vector) == pytest.approx(1.0, abs=1e-5)
    assert result.model == "text-embedding-3-small" == result.call.model
    assert result.call.input_tokens == 58 and result.call.ok
    assert result.call.cost_usd == pytest.approx(58 * 0.02e-6)
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "model": "text-embedding-3-small",
        "input": "colors: cream, plum; temperature: warm",
        "dimensions": 1536,
        "encoding_format": "float",
    }
    assert route.calls.last.request.headers["authorization"] == "Bearer test-openai-key"


def test_openai_429_then_success_is_retried(settings, mock) -> None:
    route = mock.post(OPENAI_URL).mock(
        side_effect=[err(429, "openai_error_429.json"), ok("openai_embeddings_ok.json")]
    )
    assert len(OpenAIEmbedder(settings).embed("x").vector) == 1536
    assert route.call_count == 2


def test_openai_500_every_time_fails_after_bounded_retries(settings, mock) -> None:
    route = mock.post(OPENAI_URL).mock(return_value=err(500, "openai_error_500.json"))
    with pytest.raises(TransientProviderError, match="after 3 attempts"):
        OpenAIEmbedder(settings).embed("x")
    assert route.call_count == 3


def test_openai_timeout_is_a_provider_error(settings, mock) -> None:
    route = mock.post(OPENAI_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(ProviderError, match="timed out"):
        OpenAIEmbedder(settings).embed("x")
    assert route.call_count == 3


def test_openai_401_is_not_retried(settings, mock) -> None:
    route = mock.post(OPENAI_URL).mock(return_value=err(401, "openai_error_401.json"))
    with pytest.raises(ProviderError, match="401"):
        OpenAIEmbedder(settings).embed("x")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("openai_embeddings_wrong_dims.json", "256 dimensions"),
        ("openai_embeddings_empty.json", "no embedding"),
    ],
)
def test_openai_malformed_embedding(settings, mock, name, message) -> None:
    mock.post(OPENAI_URL).mock(return_value=ok(name))
    with pytest.raises(MalformedOutput, match=message) as exc:
        OpenAIEmbedder(settings).embed("x")
    assert [(c.ok, c.error, c.input_tokens) for c in exc.value.calls] == [
        (False, "MalformedOutput", 58)
    ]


def test_openai_garbage_body_is_an_error(settings, mock) -> None:
    mock.post(OPENAI_URL).mock(
        return_value=httpx.Response(
            200, content=b"<html>\xff</html>", headers={"content-type": "application/json"}
        )
    )
    with pytest.raises(MalformedOutput, match="not valid JSON/UTF-8"):
        OpenAIEmbedder(settings).embed("x")
