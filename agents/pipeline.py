"""The pipeline stages an agent runs: call a model, write the raw result through the SQL
writer of the stage, and let SQL decide.

generate -> defect_scan -> review -> (second_opinion) -> embed. A provider error, malformed
output or a result the database refuses is a failed attempt (StageFailed); nothing is ever
passed on as a pass or as neutral scores.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from agents.jobqueue import JobQueue, RejectedResult
from agents.providers.base import (
    AdBrief,
    CallRecord,
    DescriptorResult,
    EmbeddingModel,
    Exemplar,
    ImageModel,
    ProviderError,
    ReviewModel,
    RubricCheck,
)
from agents.providers.prompts import DEFAULT_PROMPT_TEMPLATE, PROMPT_TEMPLATES
from agents.storage import ImageUnavailable, image_key, read_image

log = logging.getLogger("genome.agents")
EXEMPLAR_COUNT = 4


class ProviderSet(Protocol):
    """What agents.providers.factory.Providers offers."""

    image: ImageModel
    reviewer: ReviewModel
    second_reviewer: ReviewModel
    embedder: EmbeddingModel
    mode: str


class StageFailed(RuntimeError):
    """This attempt failed (the model, its output, or the result was refused)."""


def check_png(png: bytes) -> None:
    """A generated image must be a complete, decodable PNG before it is stored: a truncated
    or corrupt one fails the generate attempt instead of reaching the scan."""
    try:
        with Image.open(io.BytesIO(png)) as img:
            if img.format != "PNG":
                raise StageFailed(f"generated image is {img.format}, not PNG")
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise StageFailed(f"generated image is not a valid PNG ({len(png)} bytes): {exc}") from exc


def write_image(directory: Path, ad_id: UUID, png: bytes) -> Path:
    """Write <ad_id>.png atomically; a retry overwrites the same name."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{ad_id}.png"
    tmp = directory / f".{ad_id}.{os.getpid()}.tmp"
    tmp.write_bytes(png)
    os.replace(tmp, path)
    return path


def brief_from_context(ctx: dict[str, Any]) -> AdBrief:
    ad, product, brand = ctx["ad"], ctx["product"], ctx["brand"]
    tags = {k: str(v) for k, v in (ad.get("element_tags") or {}).items() if v is not None}
    ad_id = UUID(ad["id"])
    return AdBrief(
        generated_ad_id=ad_id,
        brand_name=brand["name"],
        product_name=product["name"],
        current_offer=product.get("current_offer"),
        benefits=list(product.get("benefits") or []),
        element_tags=tags,
        canvas_size=ad.get("canvas_size") or "1080x1080px",
        prompt_text=ad.get("prompt_text") or "",
        performance_context=ctx.get("performance_context"),
        seed=int.from_bytes(hashlib.sha256(ad_id.bytes).digest()[:4], "big"),
        prompt_template_version=generation_settings(ctx)["prompt_template_version"],
    )


def generation_settings(ctx: dict[str, Any]) -> dict[str, Any]:
    """The run's generation settings from job_context (a generation A/B arm's included,
    docs/experiments.md#generation-ab-tests): the prompt template version, and the pipeline
    settings exemplar_count and performance_context. An unknown prompt template fails the
    attempt; it is never replaced by another template."""
    gen = ctx.get("generation") or {}
    version = gen.get("prompt_template_version") or DEFAULT_PROMPT_TEMPLATE
    if version not in PROMPT_TEMPLATES:
        known = ", ".join(sorted(PROMPT_TEMPLATES))
        raise StageFailed(f"prompt_template_version {version!r} is not one of {known}")
    pipeline = gen.get("pipeline_settings") or {}
    return {
        "prompt_template_version": version,
        "exemplar_count": int(pipeline.get("exemplar_count", EXEMPLAR_COUNT)),
        "performance_context": bool(pipeline.get("performance_context", True)),
    }


def _call(record: CallRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _descriptor_record(described: DescriptorResult) -> dict[str, Any]:
    """The descriptor as stored on the ad: its fields and the text that was embedded."""
    text = described.descriptor.as_text()
    return described.descriptor.model_dump(mode="json") | {"text": text}


@dataclass
class ExemplarSource:
    """The review prompt's few-shot exemplars: the brand's nearest to the image under review.

    The ad's own embedding is made after approval (the embed stage), so a review describes
    and embeds the image itself and asks genome.review_exemplars for its nearest exemplars.
    A brand without active exemplars costs no extra model call.
    """

    queue: JobQueue
    k: int = EXEMPLAR_COUNT

    def fetch(
        self, job_id: UUID, ctx: dict[str, Any], png: bytes, providers: ProviderSet
    ) -> tuple[list[str], list[Exemplar], list[dict[str, Any]]]:
        """Exemplar ids, exemplars for the prompt, and the describe / embed call records.
        The run's pipeline setting exemplar_count (a generation A/B arm may set it, 0 for
        none) overrides k."""
        k = generation_settings(ctx)["exemplar_count"] if ctx.get("generation") else self.k
        if not ctx.get("active_exemplars") or k <= 0:
            return [], [], []
        calls: list[dict[str, Any]] = []
        if ctx.get("visual_lookup"):  # a review of this image already described and embedded it
            rows = self.queue.review_exemplars(job_id, None, None, k)
        else:
            described = providers.image.describe(png)
            embedded = providers.embedder.embed(described.descriptor.as_text())
            rows = self.queue.review_exemplars(
                job_id, embedded.vector, embedded.model, k, _descriptor_record(described)
            )
            calls = [_call(described.call), _call(embedded.call)]
        exemplars = [
            Exemplar.model_validate({k: v for k, v in row.items() if v is not None}) for row in rows
        ]
        ids = [str(row["exemplar_id"]) for row in rows]
        return ids, exemplars, calls


@dataclass
class Stages:
    """Runs one claimed job of any kind; returns the ad's status (or 'done' for noop)."""

    providers: ProviderSet
    queue: JobQueue
    images: Path
    exemplars: ExemplarSource

    def run(self, job: dict[str, Any]) -> str:
        job_id: UUID = job["id"]
        try:
            if job["kind"] == "noop":
                self.queue.complete(job_id, {"noop": True})
                return "done"
            ctx = self.queue.context(job_id)
            brief = brief_from_context(ctx)
            handler = {
                "generate": self._generate,
                "defect_scan": self._defect_scan,
                "review": self._review,
                "second_opinion": self._review,
                "embed": self._embed,
            }[job["kind"]]
            return str(handler(job, ctx, brief))
        except (ProviderError, ValidationError, RejectedResult, OSError) as exc:
            raise StageFailed(f"{type(exc).__name__}: {exc}") from exc

    def _png(self, ctx: dict[str, Any]) -> bytes:
        """The ad's stored image. The key comes from a column the app writes: it resolves
        inside the storage root only, and no error carries the file's bytes or tells a
        refused key from a missing file (docs/attacks.md#agents-and-the-queue)."""
        if not ctx["ad"].get("storage_path"):
            raise StageFailed("the ad has no stored image")
        try:
            png = read_image(ctx["ad"]["storage_path"], self.images)
            check_png(png)
        except (ImageUnavailable, StageFailed):
            raise StageFailed(str(ImageUnavailable())) from None
        return png

    def _generate(self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief) -> Any:
        image = self.providers.image.generate(brief)
        check_png(image.png)
        key = image_key(ctx["organization_id"], brief.generated_ad_id)
        write_image(self.images / key.split("/")[0], brief.generated_ad_id, image.png)
        self.queue.record_generation(job["id"], key, image.prompt_text, _call(image.call))
        return "pending"

    def _defect_scan(self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief) -> Any:
        result = self.providers.image.defect_scan(self._png(ctx), brief)
        scan = result.scan.model_dump(mode="json") | {"raw": result.raw}
        return self.queue.record_defect_scan(job["id"], scan, _call(result.call))

    def _review(self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief) -> Any:
        rubric = [RubricCheck.model_validate(r) for r in ctx["rubric"]]
        png = self._png(ctx)
        ids, exemplars, lookup_calls = self.exemplars.fetch(job["id"], ctx, png, self.providers)
        model = (
            self.providers.reviewer if job["kind"] == "review" else self.providers.second_reviewer
        )
        result = model.review(png, brief, rubric, exemplars)
        review = {
            "check_scores": result.review.check_scores,
            "notes": result.review.notes,
            "raw": result.raw,
            "exemplar_ids": ids,
        }
        # The review call first: the database names the reviewer and model from it.
        return self.queue.record_review(job["id"], review, [_call(result.call), *lookup_calls])

    def _embed(self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief) -> Any:
        if ctx.get("visual_lookup"):  # described and embedded at review: no new calls
            return self.queue.record_embedding_from_lookup(job["id"])
        described = self.providers.image.describe(self._png(ctx))
        embedded = self.providers.embedder.embed(described.descriptor.as_text())
        return self.queue.record_embedding(
            job["id"],
            _descriptor_record(described),
            embedded.vector,
            embedded.model,
            [_call(described.call), _call(embedded.call)],
        )
