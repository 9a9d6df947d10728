"""The provider interface: what the agents ask of image, review and embedding models.

Every structured output is a pydantic model; a provider that cannot produce a valid one
raises MalformedOutput (with the raw text), never returns neutral or passing values.
Every result carries the CallRecord of the model call that produced it.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The errors live in errors.py (start-up time, docs/operations.md#start-up); named here too.
from agents.providers.errors import MalformedOutput as MalformedOutput
from agents.providers.errors import ProviderError as ProviderError
from agents.providers.errors import TransientProviderError as TransientProviderError

EMBEDDING_DIMENSIONS = 1536

# A brief's canvas size, live and offline alike.
_CANVAS = re.compile(r"^\s*(\d{2,5})\s*[xX\u00d7]\s*(\d{2,5})\s*(px)?\s*$")


def canvas_dimensions(canvas_size: str) -> tuple[int, int]:
    """'1080x1350px' -> (1080, 1350)."""
    m = _CANVAS.match(canvas_size or "")
    if not m:
        raise ValueError(f"canvas_size {canvas_size!r} is not WIDTHxHEIGHT[px]")
    return int(m.group(1)), int(m.group(2))


class CallRecord(BaseModel):
    """One billed model call, for cost and latency accounting (genome.provider_calls):
    ok = false with the error class when the model answered but its output was unusable."""

    provider: str
    model: str
    operation: Literal["generate", "defect_scan", "review", "describe", "embed"]
    latency_ms: int = Field(ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    ok: bool = True
    error: str | None = None


class AdBrief(BaseModel):
    """What a model needs to know about the ad being made or judged."""

    generated_ad_id: UUID
    brand_name: str
    product_name: str
    current_offer: str | None = None
    benefits: list[str] = Field(default_factory=list)
    element_tags: dict[str, str]
    canvas_size: str = "1080x1080px"
    prompt_text: str = ""
    performance_context: str | None = None
    seed: int = 0
    # docs/experiments.md#generation-ab-tests: the image prompt template (prompts.py).
    prompt_template_version: str = "v2.0"


class GeneratedImage(BaseModel):
    png: bytes
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    prompt_text: str
    call: CallRecord


class DefectScan(BaseModel):
    """Stage 1: the fast binary defect checks (docs/quality.md#three-stage-review)."""

    model_config = ConfigDict(extra="forbid")

    text_garbled: bool
    anatomy_error: bool
    physics_violation: bool
    packaging_text_error: bool
    product_distortion: bool
    offer_hallucination: bool = False
    notes: str = ""


class DefectScanResult(BaseModel):
    scan: DefectScan
    raw: str
    call: CallRecord


class RubricCheck(BaseModel):
    """One check of the organization's active quality config."""

    code: str
    name: str
    weight: float = Field(gt=0)
    description: str = ""


class Exemplar(BaseModel):
    """A few-shot calibration ad injected into the review prompt."""

    exemplar_type: Literal["gold_approve", "gold_reject", "edge_case"]
    visual_description: str
    quality_notes: str
    check_scores: dict[str, float] = Field(default_factory=dict)


class Review(BaseModel):
    """Stage 2/3: a score 0-10 for every rubric check."""

    check_scores: dict[str, float]
    notes: str = ""

    @field_validator("check_scores")
    @classmethod
    def _scores_in_range(cls, v: dict[str, float]) -> dict[str, float]:
        for code, score in v.items():
            if not 0 <= score <= 10:
                raise ValueError(f"check {code} scored {score}, outside 0-10")
        return v


class ReviewResult(BaseModel):
    review: Review
    raw: str
    call: CallRecord


class VisualDescriptor(BaseModel):
    """The structured visual descriptor of an image (docs/quality.md#visual-space)."""

    model_config = ConfigDict(extra="forbid")

    dominant_colors: list[str] = Field(min_length=1, max_length=8)
    color_temperature: Literal["warm", "neutral", "cool"]
    composition_type: str
    text_density: float = Field(ge=0, le=1)
    visual_style: str
    subject_position: str
    negative_space_ratio: float = Field(ge=0, le=1)
    mood: str

    def as_text(self) -> str:
        """The text that is embedded."""
        return (
            f"colors: {', '.join(self.dominant_colors)}; temperature: {self.color_temperature}; "
            f"composition: {self.composition_type}; text density: {self.text_density:.2f}; "
            f"style: {self.visual_style}; subject: {self.subject_position}; "
            f"negative space: {self.negative_space_ratio:.2f}; mood: {self.mood}"
        )


class DescriptorResult(BaseModel):
    descriptor: VisualDescriptor
    raw: str
    call: CallRecord


class EmbeddingResult(BaseModel):
    vector: list[float]
    model: str
    call: CallRecord

    @field_validator("vector")
    @classmethod
    def _dimensions(cls, v: list[float]) -> list[float]:
        if len(v) != EMBEDDING_DIMENSIONS:
            raise ValueError(f"embedding has {len(v)} dimensions, expected {EMBEDDING_DIMENSIONS}")
        return v


class ImageModel(Protocol):
    """Gemini's role: image generation, the fast defect scan, visual descriptors."""

    name: str

    def generate(self, brief: AdBrief) -> GeneratedImage: ...

    def defect_scan(self, png: bytes, brief: AdBrief) -> DefectScanResult: ...

    def describe(self, png: bytes) -> DescriptorResult: ...


class ReviewModel(Protocol):
    """A reviewer (Claude first, Gemini as the other model, or offline)."""

    name: str

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult: ...


class EmbeddingModel(Protocol):
    """OpenAI text-embedding-3-small (1536 dimensions), or offline hashed features."""

    name: str

    def embed(self, text: str) -> EmbeddingResult: ...
