"""The pipeline stages an agent runs: call a model, write the raw result through the SQL
writer of the stage, and let SQL decide.

generate -> defect_scan -> review -> (second_opinion) -> embed. A provider error, malformed
output or a result the database refuses is a failed attempt (StageFailed); nothing is ever
passed on as a pass or as neutral scores.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from PIL import UnidentifiedImageError
from pydantic import ValidationError

from agents.jobqueue import JobQueue, RejectedResult, StageFailed
from agents.pngcache import decode_png
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
from agents.storage import ImageUnavailable, Store, image_key

log = logging.getLogger("genome.agents")
EXEMPLAR_COUNT = 4


class ProviderSet(Protocol):
    """What agents.providers.factory.Providers offers."""

    image: ImageModel
    reviewer: ReviewModel
    second_reviewer: ReviewModel
    embedder: EmbeddingModel
    mode: str


def check_png(png: bytes) -> None:
    """A generated image must be a complete, decodable PNG before it is stored: a truncated
    or corrupt one fails the generate attempt instead of reaching the scan."""
    try:
        # decoded once per image and process: the provider's decode takes the same image
        # (agents/pngcache.py)
        img = decode_png(png)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise StageFailed(f"generated image is not a valid PNG ({len(png)} bytes): {exc}") from exc
    if img.format != "PNG":
        raise StageFailed(f"generated image is {img.format}, not PNG")


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
        self,
        job_id: UUID,
        ctx: dict[str, Any],
        png: bytes,
        providers: ProviderSet,
        spent: list[dict[str, Any]] | None = None,
    ) -> tuple[list[str], list[Exemplar], list[dict[str, Any]]]:
        """Exemplar ids, exemplars for the prompt, and the describe / embed call records
        (also appended to `spent`, the attempt's calls so far, as they are made). The run's
        pipeline setting exemplar_count (a generation A/B arm may set it, 0 for none)
        overrides k."""
        spent = [] if spent is None else spent
        k = generation_settings(ctx)["exemplar_count"] if ctx.get("generation") else self.k
        if not ctx.get("active_exemplars") or k <= 0:
            return [], [], []
        calls: list[dict[str, Any]] = []
        if ctx.get("visual_lookup"):  # a review of this image already described and embedded it
            rows = self.queue.review_exemplars(job_id, None, None, k)
        else:
            described = providers.image.describe(png)
            spent.append(_call(described.call))
            embedded = providers.embedder.embed(described.descriptor.as_text())
            spent.append(_call(embedded.call))
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
    images: Store
    exemplars: ExemplarSource

    def run(self, job: dict[str, Any]) -> str:
        job_id: UUID = job["id"]
        spent: list[dict[str, Any]] = []  # the attempt's billed calls, for a failure
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
            return str(handler(job, ctx, brief, spent))
        except (ProviderError, ValidationError, RejectedResult, OSError) as exc:
            failed = [_call(c) for c in exc.calls] if isinstance(exc, ProviderError) else []
            raise StageFailed(f"{type(exc).__name__}: {exc}", spent + failed) from exc
        except StageFailed as exc:
            raise StageFailed(str(exc), spent + exc.calls) from exc

    def _png(self, ctx: dict[str, Any]) -> bytes:
        """The ad's stored image. storage_path is a column the app writes: only an image in
        this agent's store under the ad's own organization's prefix is read, and no error
        carries the file's bytes or tells a refused path from a missing image
        (docs/attacks.md#agents-and-the-queue)."""
        if not ctx["ad"].get("storage_path"):
            raise StageFailed("the ad has no stored image")
        try:
            png = self.images.read(ctx["ad"]["storage_path"], ctx["organization_id"])
            check_png(png)
        except (ImageUnavailable, StageFailed):
            raise StageFailed(str(ImageUnavailable())) from None
        return png

    def _generate(
        self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief, spent: list[Any]
    ) -> Any:
        image = self.providers.image.generate(brief)
        try:
            check_png(image.png)
        except StageFailed as exc:  # billed all the same: recorded as a failed call
            failed = image.call.model_copy(update={"ok": False, "error": "InvalidImage"})
            spent.append(_call(failed))
            raise exc
        spent.append(_call(image.call))
        # storage_path is the image's URI: any host configured with the same store reads it
        uri = self.images.put(image_key(ctx["organization_id"], brief.generated_ad_id), image.png)
        self.queue.record_generation(job["id"], uri, image.prompt_text, _call(image.call))
        return "pending"

    def _defect_scan(
        self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief, spent: list[Any]
    ) -> Any:
        result = self.providers.image.defect_scan(self._png(ctx), brief)
        spent.append(_call(result.call))
        scan = result.scan.model_dump(mode="json") | {"raw": result.raw}
        return self.queue.record_defect_scan(job["id"], scan, _call(result.call))

    def _review(
        self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief, spent: list[Any]
    ) -> Any:
        rubric = [RubricCheck.model_validate(r) for r in ctx["rubric"]]
        png = self._png(ctx)
        ids, exemplars, lookup_calls = self.exemplars.fetch(
            job["id"], ctx, png, self.providers, spent
        )
        model = (
            self.providers.reviewer if job["kind"] == "review" else self.providers.second_reviewer
        )
        result = model.review(png, brief, rubric, exemplars)
        spent.append(_call(result.call))
        review = {
            "check_scores": result.review.check_scores,
            "notes": result.review.notes,
            "raw": result.raw,
            "exemplar_ids": ids,
        }
        # The review call first: the database names the reviewer and model from it.
        return self.queue.record_review(job["id"], review, [_call(result.call), *lookup_calls])

    def _embed(
        self, job: dict[str, Any], ctx: dict[str, Any], brief: AdBrief, spent: list[Any]
    ) -> Any:
        if ctx.get("visual_lookup"):  # described and embedded at review: no new calls
            return self.queue.record_embedding_from_lookup(job["id"])
        described = self.providers.image.describe(self._png(ctx))
        spent.append(_call(described.call))
        embedded = self.providers.embedder.embed(described.descriptor.as_text())
        spent.append(_call(embedded.call))
        return self.queue.record_embedding(
            job["id"],
            _descriptor_record(described),
            embedded.vector,
            embedded.model,
            [_call(described.call), _call(embedded.call)],
        )
