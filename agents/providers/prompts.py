"""Prompts for the live models: image generation, defect scan, descriptor, review."""

from __future__ import annotations

import json
from collections.abc import Callable

from agents.providers.base import AdBrief, Exemplar, RubricCheck, canvas_dimensions

ASPECT_RATIOS = {(1, 1): "1:1", (4, 5): "4:5", (9, 16): "9:16", (3, 4): "3:4", (2, 3): "2:3",
                 (16, 9): "16:9", (4, 3): "4:3", (3, 2): "3:2", (5, 4): "5:4"}  # fmt: skip


def aspect_ratio(canvas_size: str) -> str:
    """The nearest aspect ratio Gemini supports for the canvas."""
    w, h = canvas_dimensions(canvas_size)
    return min(ASPECT_RATIOS.items(), key=lambda kv: abs(kv[0][0] / kv[0][1] - w / h))[1]


def _brief_lines(brief: AdBrief) -> str:
    lines = [
        f"Brand: {brief.brand_name}",
        f"Product: {brief.product_name}",
        f"Current offer: {brief.current_offer or 'none (do not show any offer)'}",
    ]
    if brief.benefits:
        lines.append(f"Benefits: {'; '.join(brief.benefits)}")
    tags = ", ".join(f"{k}={v}" for k, v in sorted(brief.element_tags.items()))
    lines.append(f"Creative elements: {tags}")
    lines.append(f"Canvas: {brief.canvas_size}")
    return "\n".join(lines)


def _image_prompt_v2_0(brief: AdBrief) -> str:
    base = brief.prompt_text.strip() or (
        f"A polished social media ad for {brief.product_name} by {brief.brand_name}."
    )
    parts = [base, "", _brief_lines(brief)]
    if brief.performance_context:
        parts += ["", "Advisory (what has worked before):", brief.performance_context]
    parts += [
        "",
        "Render all text exactly as written, legibly, with no invented prices or offers.",
    ]
    return "\n".join(parts)


def _image_prompt_v2_1(brief: AdBrief) -> str:
    """v2.1: the constraints first (text, offer, product fidelity), then the creative brief."""
    offer = brief.current_offer or "none: show no offer or price"
    parts = [
        f"Design one social media ad for {brief.product_name} by {brief.brand_name}.",
        "Hard constraints:",
        "- every word legible and spelled exactly as given; no other text",
        f"- offer: {offer}",
        "- the product undistorted, its packaging text intact",
        "",
        brief.prompt_text.strip() or "Creative direction: follow the creative elements below.",
        "",
        _brief_lines(brief),
    ]
    if brief.performance_context:
        parts += ["", "Advisory (what has worked before):", brief.performance_context]
    return "\n".join(parts)


# docs/experiments.md#generation-ab-tests: the image prompt template per
# prompt_template_version. A generation A/B arm may name only these (the settings row
# generation_prompt_templates lists the same keys; tests/test_generation_arms.py checks it).
PROMPT_TEMPLATES: dict[str, Callable[[AdBrief], str]] = {
    "v2.0": _image_prompt_v2_0,
    "v2.1": _image_prompt_v2_1,
}
DEFAULT_PROMPT_TEMPLATE = "v2.0"


class UnknownPromptTemplate(ValueError):
    """The ad's run names a prompt template version this agent does not have."""


def image_prompt(brief: AdBrief) -> str:
    """The image prompt from the template of the brief's prompt_template_version."""
    template = PROMPT_TEMPLATES.get(brief.prompt_template_version)
    if template is None:
        raise UnknownPromptTemplate(
            f"prompt_template_version {brief.prompt_template_version!r} is not one of "
            f"{', '.join(sorted(PROMPT_TEMPLATES))}"
        )
    return template(brief)


SCAN_KEYS = ("text_garbled", "anatomy_error", "physics_violation", "packaging_text_error",
             "product_distortion", "offer_hallucination")  # fmt: skip


def scan_prompt(brief: AdBrief) -> str:
    example = {k: False for k in SCAN_KEYS} | {"notes": "one short sentence"}
    return "\n".join(
        [
            "You are a fast quality gate for AI-generated ad images. Inspect the image for",
            "critical defects and answer true only when the defect is clearly visible:",
            "- text_garbled: misspelled, malformed or nonsense lettering anywhere",
            "- anatomy_error: wrong number of fingers/limbs, distorted faces or bodies",
            "- physics_violation: impossible shadows, floating objects, broken perspective",
            "- packaging_text_error: wrong or garbled text on the product packaging",
            "- product_distortion: the product is warped, melted or misshapen",
            f"- offer_hallucination: an offer or price other than: "
            f"{brief.current_offer or 'none (any offer shown is hallucinated)'}",
            "",
            _brief_lines(brief),
            "",
            "Answer with exactly one JSON object and nothing else, with all of these keys:",
            json.dumps(example),
        ]
    )


def descriptor_prompt() -> str:
    example = {
        "dominant_colors": ["navy", "cream", "gold"],
        "color_temperature": "warm | neutral | cool",
        "composition_type": "e.g. centered, rule-of-thirds, split-screen, grid",
        "text_density": 0.3,
        "visual_style": "e.g. flat minimal, photographic, bold graphic",
        "subject_position": "e.g. center, left, bottom-right",
        "negative_space_ratio": 0.4,
        "mood": "e.g. calm, energetic, luxurious",
    }
    return "\n".join(
        [
            "Describe the visual design of this ad image as a structured descriptor.",
            "dominant_colors: 1-8 plain colour names, most dominant first.",
            "text_density and negative_space_ratio are fractions of the image area, 0 to 1.",
            "Answer with exactly one JSON object and nothing else, with exactly these keys:",
            json.dumps(example),
        ]
    )


def review_prompt(brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]) -> str:
    checks = "\n".join(
        f"- {c.code} {c.name} (weight {c.weight:g})"
        + (f": {c.description}" if c.description else "")
        for c in rubric
    )
    parts = [
        "You review AI-generated ad creatives for a brand's quality bar. Score the attached",
        "ad image on every check below from 0 (unusable) to 10 (flawless). Judge only what",
        "is visible; an offer shown that differs from the brief's offer scores C5 below 3.",
        "",
        "Checks (code, name, weight):",
        checks,
        "",
        "The brief:",
        _brief_lines(brief),
    ]
    if exemplars:
        parts += ["", "Calibration exemplars from this brand (how its reviewers judged):"]
        for i, ex in enumerate(exemplars, 1):
            scores = ", ".join(f"{k} {v:g}" for k, v in sorted(ex.check_scores.items()))
            parts.append(
                f"{i}. [{ex.exemplar_type}] {ex.visual_description} — {ex.quality_notes}"
                + (f" (scores: {scores})" if scores else "")
            )
    example = {"check_scores": {c.code: 7.5 for c in rubric}, "notes": "the main issues"}
    parts += [
        "",
        "Answer with exactly one JSON object and nothing else: a score for every check code",
        "above and no other codes, and short notes:",
        json.dumps(example),
    ]
    return "\n".join(parts)
