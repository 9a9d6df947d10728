"""Choosing the providers: offline, live, or auto (live only when every key is present).

    from agents.providers.factory import Providers, load_providers
    providers = load_providers()            # GENOME_PROVIDER or auto
    providers = load_providers("offline")   # explicit choice wins over GENOME_PROVIDER

Live: Gemini for image generation, defect scan and descriptors; Claude reviews first and
Gemini gives the second opinion; OpenAI text-embedding-3-small embeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.providers.base import EmbeddingModel, ImageModel, ProviderError, ReviewModel
from agents.providers.settings import ProviderSettings

MODES = ("offline", "live", "auto")


class MissingProviderKey(ProviderError):
    """Live providers were asked for, but an API key is missing."""


@dataclass(frozen=True)
class Providers:
    image: ImageModel
    reviewer: ReviewModel
    second_reviewer: ReviewModel
    embedder: EmbeddingModel
    mode: str  # the resolved mode: 'offline' or 'live'


def resolve_mode(mode: str, settings: ProviderSettings) -> str:
    """'auto' defers to GENOME_PROVIDER (settings.mode); auto then means live iff all keys."""
    requested = (mode or "auto").strip().lower()
    if requested not in MODES:
        raise ValueError(f"provider mode {mode!r} is not one of {', '.join(MODES)}")
    if requested == "auto":
        requested = settings.mode
    if requested == "auto":
        return "live" if settings.has_all_keys() else "offline"
    return requested


def offline_providers() -> Providers:
    # imported here, like the live SDKs below: a runtime loads only the models it runs
    from agents.providers.offline.hashembed import OfflineEmbedder
    from agents.providers.offline.models import OfflineAdWorld, OfflineImageModel, offline_reviewers

    world = OfflineAdWorld()
    first, second = offline_reviewers(world)
    return Providers(
        image=OfflineImageModel(world),
        reviewer=first,
        second_reviewer=second,
        embedder=OfflineEmbedder(),
        mode="offline",
    )


def live_providers(settings: ProviderSettings) -> Providers:
    missing = settings.missing_keys()
    if missing:
        raise MissingProviderKey(
            f"live providers need {', '.join(missing)}; set them, or use GENOME_PROVIDER=offline"
        )
    from agents.providers.anthropic_review import ClaudeReviewer
    from agents.providers.gemini import GeminiImageModel, GeminiReviewer
    from agents.providers.openai_embed import OpenAIEmbedder

    return Providers(
        image=GeminiImageModel(settings),
        reviewer=ClaudeReviewer(settings),
        second_reviewer=GeminiReviewer(settings),
        embedder=OpenAIEmbedder(settings),
        mode="live",
    )


def load_providers(mode: str = "auto", settings: ProviderSettings | None = None) -> Providers:
    settings = settings or ProviderSettings.from_env()
    if resolve_mode(mode, settings) == "live":
        return live_providers(settings)
    return offline_providers()
