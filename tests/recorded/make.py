"""Writes the recorded HTTP responses of tests/recorded/ (run: python tests/recorded/make.py).

Each file is one response body in the shape the vendor's API reference documents for it,
as read on 2026-12-04:
- Anthropic Messages: https://platform.claude.com/docs/en/api/messages (id msg_01 + 22
  base-62 characters, model, content blocks, stop_reason, usage with the cache fields and
  service_tier) and the error envelope of https://platform.claude.com/docs/en/api/errors
  (type, error.type, error.message, request_id).
- Gemini generateContent: https://ai.google.dev/api/generate-content#generatecontentresponse
  (candidates, usageMetadata whose promptTokenCount is the sum of promptTokensDetails and
  whose totalTokenCount adds candidatesTokenCount and thoughtsTokenCount, modelVersion,
  responseId) and Google's error envelope (code, message, status, details).
- OpenAI embeddings: https://platform.openai.com/docs/api-reference/embeddings/object and
  its error envelope (message, type, param, code).
Token counts follow the models' documented accounting: a Gemini 3 image input costs 1,120
tokens at the default media resolution and a 1K image output 1,120 image tokens; a Claude
image about width x height / 750 tokens. Every response has its own id. No live API was
called: the answers are the test cases, the envelopes are the vendors' shapes.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
import string
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RNG = random.Random(20261204)
B62 = string.ascii_letters + string.digits
IMAGE_IN = 1120  # Gemini 3: one image at the default media resolution

SCORES = {"V1": 8.5, "V2": 9.0, "V3": 8.0, "V4": 7.5, "V5": 8.0, "V6": 8.5, "V7": 8.0,
          "V8": 8.0, "V9": 9.0, "C1": 7.5, "C2": 8.0, "C3": 7.0, "C4": 8.0, "C5": 9.5,
          "G1": 8.0, "G2": 7.5}  # fmt: skip
SCAN_OK = {"text_garbled": False, "anatomy_error": False, "physics_violation": False,
           "packaging_text_error": False, "product_distortion": False,
           "offer_hallucination": False, "notes": "No visible defects."}  # fmt: skip
DESCRIPTOR = {"dominant_colors": ["cream", "plum", "dusty pink"], "color_temperature": "warm",
              "composition_type": "rule-of-thirds", "text_density": 0.22,
              "visual_style": "flat minimal", "subject_position": "right",
              "negative_space_ratio": 0.48, "mood": "calm and trustworthy"}  # fmt: skip


def j(value: Any) -> str:
    return json.dumps(value)


def msg_id() -> str:
    return "msg_01" + "".join(RNG.choice(B62) for _ in range(22))


def req_id() -> str:
    return "req_011C" + "".join(RNG.choice(B62) for _ in range(20))


def response_id() -> str:
    return "".join(RNG.choice(B62 + "-_") for _ in range(23))


def write(name: str, body: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(body, indent=2) + "\n")


def claude(text: str, *, stop: str = "end_turn", tin: int = 3112, tout: int = 286) -> dict:
    return {
        "id": msg_id(),
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-5-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": tin,
            "output_tokens": tout,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "standard",
        },
    }


def claude_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": req_id()}


def gemini(
    parts: list[dict] | None,
    model: str,
    *,
    text_in: int,
    out: int,
    thoughts: int = 0,
    finish: str = "STOP",
    image_in: int = IMAGE_IN,
    image_out: int = 0,
) -> dict:
    details = [{"modality": "TEXT", "tokenCount": text_in}]
    if image_in:
        details.append({"modality": "IMAGE", "tokenCount": image_in})
    usage: dict[str, Any] = {
        "promptTokenCount": text_in + image_in,
        "candidatesTokenCount": out + image_out,
        "totalTokenCount": text_in + image_in + out + image_out + thoughts,
        "promptTokensDetails": details,
    }
    if image_out:
        usage["candidatesTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": out},
            {"modality": "IMAGE", "tokenCount": image_out},
        ]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    content: dict[str, Any] = {"role": "model"}
    if parts is not None:
        content["parts"] = parts
    return {
        "candidates": [{"content": content, "finishReason": finish, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id(),
    }


def gemini_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def openai_error(message: str, kind: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def unit_vector(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    v = [rng.gauss(0, 1) for _ in range(n)]
    norm = math.sqrt(sum(x * x for x in v))
    return [round(x / norm, 8) for x in v]


def embeddings(vectors: list[list[float]], tokens: int = 58) -> dict:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (214, 170, 190)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def main() -> None:
    review = j({"check_scores": SCORES, "notes": "Clean layout; CTA could be more prominent."})
    write("anthropic_messages_review_ok.json", claude(review))
    write(
        "anthropic_messages_review_fenced.json",
        claude(
            "```json\n"
            + json.dumps(
                {"check_scores": SCORES, "notes": "Clean layout; CTA could be more prominent."},
                indent=1,
            )
            + "\n```"
        ),
    )
    missing = {k: v for k, v in SCORES.items() if k != "C5"}
    write("anthropic_messages_review_missing_check.json",
          claude(j({"check_scores": missing, "notes": "ok"})))  # fmt: skip
    write("anthropic_messages_review_out_of_range.json",
          claude(j({"check_scores": SCORES | {"V2": 12}, "notes": ""})))  # fmt: skip
    write("anthropic_messages_review_prose.json",
          claude(f"Here is my review of the ad:\n{review}\nLet me know if you need more."))  # fmt: skip
    write("anthropic_messages_review_truncated.json",
          claude(review[:120], stop="max_tokens", tout=1500))  # fmt: skip
    write("anthropic_messages_review_empty.json", claude("", tout=2))
    write("anthropic_messages_check_ok.json", claude("OK", tin=14, tout=4))
    write("anthropic_messages_review_refusal.json",
          claude("I can't review this image.", stop="refusal", tout=9))  # fmt: skip
    write(
        "anthropic_error_400.json",
        claude_error(
            "invalid_request_error",
            "messages.0.content.0.image.source.base64.data: image exceeds 5 MB maximum",
        ),
    )
    write("anthropic_error_401.json", claude_error("authentication_error", "invalid x-api-key"))
    write("anthropic_error_404.json", claude_error("not_found_error", "model: claude-haiku-9"))
    write(
        "anthropic_error_429.json",
        claude_error(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50,000 input "
            "tokens per minute.",
        ),
    )
    write("anthropic_error_500.json", claude_error("api_error", "Internal server error"))
    write("anthropic_error_529.json", claude_error("overloaded_error", "Overloaded"))

    flash_lite, flash, image_model = (
        "gemini-3.5-flash-lite",
        "gemini-3.8-flash",
        "gemini-3.1-flash-image",
    )
    scan = {"text_in": 388, "out": 58}
    write("gemini_generate_scan_ok.json", gemini([{"text": j(SCAN_OK)}], flash_lite, **scan))
    write(
        "gemini_generate_scan_defect.json",
        gemini(
            [
                {
                    "text": j(
                        SCAN_OK | {"text_garbled": True, "notes": "Headline letters are malformed."}
                    )
                }
            ],
            flash_lite,
            **scan,
        ),
    )
    write(
        "gemini_generate_scan_missing_check.json",
        gemini(
            [{"text": j({k: v for k, v in SCAN_OK.items() if k != "product_distortion"})}],
            flash_lite,
            **scan,
        ),
    )
    write(
        "gemini_generate_scan_wrong_type.json",
        gemini([{"text": j(SCAN_OK | {"anatomy_error": "no"})}], flash_lite, **scan),
    )
    write(
        "gemini_generate_scan_malformed.json",
        gemini(
            [{"text": '{"text_garbled": false, "anatomy_error": fal'}],
            flash_lite,
            text_in=388,
            out=16,
            finish="MAX_TOKENS",
        ),
    )
    write("gemini_generate_empty.json", gemini(None, flash_lite, text_in=388, out=0,
                                               finish="SAFETY"))  # fmt: skip
    desc = {"text_in": 164, "out": 71}
    write(
        "gemini_generate_descriptor_ok.json", gemini([{"text": j(DESCRIPTOR)}], flash_lite, **desc)
    )
    write(
        "gemini_generate_descriptor_extra_field.json",
        gemini([{"text": j(DESCRIPTOR | {"lighting": "soft"})}], flash_lite, **desc),
    )
    write(
        "gemini_generate_descriptor_out_of_range.json",
        gemini([{"text": j(DESCRIPTOR | {"negative_space_ratio": 48})}], flash_lite, **desc),
    )
    write(
        "gemini_generate_review_ok.json",
        gemini(
            [
                {
                    "text": j(
                        {
                            "check_scores": SCORES | {"V4": 6.5},
                            "notes": "Accent colour clashes slightly.",
                        }
                    )
                }
            ],
            flash,
            text_in=1372,
            out=236,
            thoughts=418,
        ),
    )
    write(
        "gemini_generate_image_ok.json",
        gemini(
            [
                {"text": "Here is the ad."},
                {"inlineData": {"mimeType": "image/png", "data": png(64, 80)}},
            ],
            image_model,
            text_in=214,
            out=5,
            image_in=0,
            image_out=1120,
        ),
    )
    write(
        "gemini_generate_image_refused.json",
        gemini(
            [{"text": "I can't create that image."}], image_model, text_in=214, out=9, image_in=0
        ),
    )
    write("gemini_generate_check_ok.json", gemini([{"text": "OK"}], flash_lite, text_in=9, out=2,
                                                  image_in=0))  # fmt: skip
    # https://ai.google.dev/api/models#Model (models.get)
    write("gemini_model_get.json", {
        "name": "models/gemini-3.1-flash-image", "version": "3.1",
        "displayName": "Nano Banana 2", "description": "Gemini 3.1 Flash Image",
        "inputTokenLimit": 131072, "outputTokenLimit": 32768,
        "supportedGenerationMethods": ["generateContent", "countTokens", "batchGenerateContent"],
        "temperature": 1, "topP": 0.95, "maxTemperature": 2, "thinking": True,
    })  # fmt: skip
    write("gemini_error_400.json", gemini_error(400, "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
          "domain": "googleapis.com",
          "metadata": {"service": "generativelanguage.googleapis.com"}}]))  # fmt: skip
    write("gemini_error_404.json", gemini_error(404, "NOT_FOUND",
        "models/gemini-2.5-flash is not found for API version v1beta, or is not supported "
        "for generateContent. Call ListModels to see the list of available models and their "
        "supported methods."))  # fmt: skip
    write("gemini_error_429.json", gemini_error(429, "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
          "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
                          "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                          "quotaDimensions": {"location": "global", "model": flash_lite}}]},
         {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]))  # fmt: skip
    write("gemini_error_500.json", gemini_error(500, "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"))  # fmt: skip

    vector = unit_vector(1536, 1)
    write("openai_embeddings_ok.json", embeddings([vector]))
    write("openai_embeddings_wrong_dims.json", embeddings([unit_vector(256, 2)]))
    write("openai_embeddings_empty.json", embeddings([]))
    write(
        "openai_error_401.json",
        openai_error(
            "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
    )
    write(
        "openai_error_404.json",
        openai_error(
            "The model `text-embedding-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
    )
    write(
        "openai_error_429.json",
        openai_error(
            "Rate limit reached for text-embedding-3-small in organization org-4Jc2kQ7yXv1mTzL0aB9sR3eH "
            "on requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in 20ms.",
            "requests",
            "rate_limit_exceeded",
        ),
    )
    write(
        "openai_error_429_quota.json",
        openai_error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    )
    write(
        "openai_error_500.json",
        openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    )


if __name__ == "__main__":
    main()
