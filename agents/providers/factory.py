"""Choosing the providers: live (the default) or offline, never one in place of the other.

    from agents.providers.factory import Providers, load_providers
    providers = load_providers()                      # GENOME_PROVIDER, else live
    providers = load_providers("offline")             # explicit choice wins over GENOME_PROVIDER
    providers = load_providers("live", kinds=["embed"])  # live, with the keys embed needs

Live: Gemini for image generation, defect scan and descriptors; Claude reviews first and
Gemini gives the second opinion; OpenAI text-embedding-3-small embeds. Live providers
start only with every key the job kinds they run need (KEYS_BY_KIND); a missing key is
MissingProviderKey naming it, never a silent switch to the offline provider, whose
synthetic images and reviews would otherwise land in the app's generated_ads. The offline
provider runs only when asked for (`--provider offline`, GENOME_PROVIDER=offline, the demo)
and says so in every record it writes (provider_calls.provider and ad_reviews.reviewer
'offline', models 'offline-…'). docs/operations.md#providers
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.providers.errors import ProviderError
from agents.providers.modes import KEY_NAMES, MODES, Vendor, env_mode

if TYPE_CHECKING:
    from agents.providers.base import EmbeddingModel, ImageModel, ReviewModel
    from agents.providers.settings import ProviderSettings

# The vendors whose keys each agent job kind needs live (agents/pipeline.py). A review or
# second opinion may describe and embed the image to find the brand's nearest exemplars
# (docs/quality.md#exemplar-library), so it needs the Gemini and OpenAI keys as well.
KEYS_BY_KIND: dict[str, tuple[Vendor, ...]] = {
    "generate": ("gemini",),
    "defect_scan": ("gemini",),
    "review": ("anthropic", "gemini", "openai"),
    "second_opinion": ("gemini", "openai"),
    "embed": ("gemini", "openai"),
    "noop": (),
}


class MissingProviderKey(ProviderError):
    """Live providers were asked for, but a key the agent needs is missing."""


@dataclass(frozen=True)
class Models:
    image: ImageModel
    reviewer: ReviewModel
    second_reviewer: ReviewModel
    embedder: EmbeddingModel


class Providers:
    """The models an agent calls, and their mode ('offline' or 'live').

    `build` makes the models on their first use, once (the agent's workers share them):
    the offline ones are built then, not at start, so that an agent listens for work
    without loading numpy, Pillow and the renderer (docs/operations.md#start-up). The live
    ones are built at start (live_providers), where a missing key or price stops it."""

    def __init__(self, mode: str, build: Callable[[], Models]) -> None:
        self.mode = mode
        self._build = build
        self._models: Models | None = None
        self._lock = threading.Lock()

    def models(self) -> Models:
        with self._lock:
            if self._models is None:
                self._models = self._build()
            return self._models

    @property
    def image(self) -> ImageModel:
        return self.models().image

    @property
    def reviewer(self) -> ReviewModel:
        return self.models().reviewer

    @property
    def second_reviewer(self) -> ReviewModel:
        return self.models().second_reviewer

    @property
    def embedder(self) -> EmbeddingModel:
        return self.models().embedder


class _NotConfigured:
    """A live model whose key this agent was not given because none of its job kinds
    needs it: any call is a bug (the agent never claims a kind that would make one)."""

    def __init__(self, role: str, vendor: Vendor) -> None:
        self.role, self.vendor = role, vendor

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def refuse(*_args: object, **_kwargs: object) -> Any:
            raise MissingProviderKey(
                f"{self.role}.{name}: this agent was started without {KEY_NAMES[self.vendor]}"
            )

        return refuse


def resolve_mode(mode: str | None, settings: ProviderSettings) -> str:
    """An explicit mode wins; no mode defers to GENOME_PROVIDER (settings.mode, default live)."""
    return _checked_mode(mode, settings.mode)


def _checked_mode(mode: str | None, configured: str) -> str:
    requested = (mode or configured).strip().lower()
    if requested == "auto":
        raise ValueError(
            "provider mode 'auto' is gone (it switched to the offline provider when a key "
            "was missing): choose live, which needs every key, or offline"
        )
    if requested not in MODES:
        raise ValueError(f"provider mode {mode!r} is not one of {', '.join(MODES)}")
    return requested


def needed_vendors(kinds: Iterable[str] | None = None) -> list[Vendor]:
    """The vendors whose keys agents running `kinds` (default: every kind) need live."""
    unknown = set(kinds or ()) - set(KEYS_BY_KIND)
    if unknown:
        raise ValueError(f"unknown job kind(s): {', '.join(sorted(unknown))}")
    chosen = list(kinds) if kinds else list(KEYS_BY_KIND)
    return [v for v in KEY_NAMES if any(v in KEYS_BY_KIND[k] for k in chosen)]


def offline_providers() -> Providers:
    """The offline models, built on first use (see Providers)."""
    return Providers("offline", _offline_models)


def _offline_models() -> Models:
    # imported here, like the live SDKs below: a runtime loads only the models it runs,
    # and only when it first calls one (docs/operations.md#start-up)
    from agents.providers.offline.hashembed import OfflineEmbedder
    from agents.providers.offline.models import OfflineAdWorld, OfflineImageModel, offline_reviewers

    world = OfflineAdWorld.from_env()
    first, second = offline_reviewers(world)
    return Models(
        image=OfflineImageModel(world),
        reviewer=first,
        second_reviewer=second,
        embedder=OfflineEmbedder(),
    )


def require_keys(settings: ProviderSettings, kinds: Iterable[str] | None = None) -> None:
    """MissingProviderKey naming every key agents running `kinds` need and lack."""
    kinds = list(kinds) if kinds else None
    missing = settings.missing_keys(needed_vendors(kinds))
    if missing:
        which = f"job kinds {', '.join(kinds)}" if kinds else "every job kind"
        raise MissingProviderKey(
            f"live providers for {which} need {', '.join(missing)}: set them, or run the "
            "offline provider (synthetic images and reviews) explicitly with "
            "--provider offline or GENOME_PROVIDER=offline"
        )


def live_providers(settings: ProviderSettings, kinds: Iterable[str] | None = None) -> Providers:
    require_keys(settings, kinds)
    settings.require_prices()
    from agents.providers.anthropic_review import ClaudeReviewer
    from agents.providers.gemini import GeminiImageModel, GeminiReviewer
    from agents.providers.openai_embed import OpenAIEmbedder

    def model(role: str, vendor: Vendor, build: Any) -> Any:
        return build(settings) if settings.has_key(vendor) else _NotConfigured(role, vendor)

    models = Models(
        image=model("image", "gemini", GeminiImageModel),
        reviewer=model("reviewer", "anthropic", ClaudeReviewer),
        second_reviewer=model("second_reviewer", "gemini", GeminiReviewer),
        embedder=model("embedder", "openai", OpenAIEmbedder),
    )
    return Providers("live", lambda: models)


def load_providers(
    mode: str | None = None,
    settings: ProviderSettings | None = None,
    kinds: Iterable[str] | None = None,
) -> Providers:
    """The providers for agents running `kinds` (default every kind): offline only when
    asked for, else live with every key those kinds need (MissingProviderKey otherwise).

    Without `settings`, an offline agent reads GENOME_PROVIDER (a bad value is refused in
    either mode) and no other setting: the rest are the live models', and reading them
    loads pydantic, start-up time an offline agent does without
    (docs/operations.md#start-up)."""
    if settings is None:
        if _checked_mode(mode, env_mode(os.environ) or "live") == "offline":
            return offline_providers()
        from agents.providers.settings import ProviderSettings

        settings = ProviderSettings.from_env()
    if resolve_mode(mode, settings) == "offline":
        return offline_providers()
    return live_providers(settings, kinds)
