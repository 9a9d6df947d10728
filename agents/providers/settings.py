"""Provider settings: which mode, which models, timeouts, retries and prices.

pydantic-settings is not a dependency, so `ProviderSettings.from_env` reads the
environment explicitly (every variable is prefixed GENOME_, except the vendors' own key
names). Prices are per million tokens plus a per-call amount, so that each CallRecord's
cost can be compared with the per-ad budget the pipeline is designed for ($0.002 scan,
~$0.005 review, $0.001 descriptor per ad).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Mode = Literal["offline", "live"]
MODES: tuple[str, ...] = ("offline", "live")
Vendor = Literal["gemini", "anthropic", "openai"]
# The environment variables of each vendor's key, for messages naming a missing one.
KEY_NAMES: dict[Vendor, str] = {
    "gemini": "GEMINI_API_KEY (or GOOGLE_API_KEY)",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}


class Price(BaseModel):
    """USD per call plus USD per million input / output tokens."""

    model_config = ConfigDict(frozen=True)

    per_call: float = Field(default=0.0, ge=0)
    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            self.per_call
            + input_tokens * self.input_per_mtok / 1e6
            + output_tokens * self.output_per_mtok / 1e6
        )


class RetrySettings(BaseModel):
    """Tenacity inside one job attempt: exponential backoff with jitter, bounded."""

    model_config = ConfigDict(frozen=True)

    attempts: int = Field(default=4, ge=1, le=20)
    initial_wait_s: float = Field(default=0.5, ge=0)
    max_wait_s: float = Field(default=8.0, ge=0)
    jitter_s: float = Field(default=0.5, ge=0)


class ProviderSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: Mode = "live"
    gemini_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None

    gemini_image_model: str = "gemini-2.5-flash-image"
    gemini_scan_model: str = "gemini-2.5-flash"
    gemini_descriptor_model: str = "gemini-2.5-flash"
    gemini_review_model: str = "gemini-2.5-pro"
    claude_review_model: str = "claude-haiku-4-5"
    openai_embedding_model: str = "text-embedding-3-small"

    timeout_s: float = Field(default=60.0, gt=0)
    image_timeout_s: float = Field(default=120.0, gt=0)
    retry: RetrySettings = RetrySettings()
    max_review_tokens: int = Field(default=1500, gt=0)

    # List prices (USD) as of late 2025; settings, not constants.
    price_gemini_image: Price = Price(input_per_mtok=0.30, output_per_mtok=30.0)
    price_gemini_scan: Price = Price(input_per_mtok=0.30, output_per_mtok=2.50)
    price_gemini_descriptor: Price = Price(input_per_mtok=0.30, output_per_mtok=2.50)
    price_gemini_review: Price = Price(input_per_mtok=1.25, output_per_mtok=10.0)
    price_claude_review: Price = Price(input_per_mtok=1.0, output_per_mtok=5.0)
    price_openai_embedding: Price = Price(input_per_mtok=0.02)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProviderSettings:
        """Settings from environment variables (os.environ unless `env` is given)."""
        src = os.environ if env is None else env
        values: dict[str, object] = {}
        mode = src.get("GENOME_PROVIDER")
        if mode:
            values["mode"] = mode.strip().lower()
            if values["mode"] not in MODES:
                raise ValueError(
                    f"GENOME_PROVIDER={mode!r} is not one of {', '.join(MODES)}"
                    + (
                        " (auto, which switched to the offline provider when a key was "
                        "missing, is gone)"
                        if values["mode"] == "auto"
                        else ""
                    )
                )
        gemini_key = src.get("GEMINI_API_KEY") or src.get("GOOGLE_API_KEY")
        for field, key in (
            ("gemini_api_key", gemini_key),
            ("anthropic_api_key", src.get("ANTHROPIC_API_KEY")),
            ("openai_api_key", src.get("OPENAI_API_KEY")),
        ):
            if key:
                values[field] = key
        for field in (
            "gemini_image_model",
            "gemini_scan_model",
            "gemini_descriptor_model",
            "gemini_review_model",
            "claude_review_model",
            "openai_embedding_model",
            "timeout_s",
            "image_timeout_s",
            "max_review_tokens",
        ):
            raw = src.get(f"GENOME_{field.upper()}")
            if raw:
                values[field] = raw
        retry: dict[str, str] = {}
        for field in RetrySettings.model_fields:
            raw = src.get(f"GENOME_RETRY_{field.upper()}")
            if raw:
                retry[field] = raw
        if retry:
            values["retry"] = RetrySettings.model_validate(retry)
        return cls.model_validate(values)

    def has_key(self, vendor: Vendor) -> bool:
        key: SecretStr | None = getattr(self, f"{vendor}_api_key")
        return bool(key is not None and key.get_secret_value())

    def has_all_keys(self) -> bool:
        return all(self.has_key(v) for v in KEY_NAMES)

    def missing_keys(self, vendors: Iterable[Vendor] | None = None) -> list[str]:
        """The key variables of `vendors` (default all) that are not set."""
        wanted = set(KEY_NAMES if vendors is None else vendors)
        return [name for v, name in KEY_NAMES.items() if v in wanted and not self.has_key(v)]
