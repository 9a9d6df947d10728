"""Provider settings: which mode, which models, timeouts, retries and prices.

pydantic-settings is not a dependency, so `ProviderSettings.from_env` reads the
environment explicitly (every variable is prefixed GENOME_, except the vendors' own key
names). Prices are one table keyed by model id (PRICES, overridable with GENOME_PRICES),
per million tokens plus a per-call amount, so that each CallRecord's cost follows the model
that was called and can be compared with the per-ad budget the pipeline is designed for
($0.002 scan, ~$0.005 review, $0.001 descriptor per ad).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# The modes and vendors live in modes.py (no pydantic, docs/operations.md#start-up).
from agents.providers.modes import KEY_NAMES as KEY_NAMES
from agents.providers.modes import MODES as MODES
from agents.providers.modes import Mode as Mode
from agents.providers.modes import Vendor as Vendor
from agents.providers.modes import env_mode


class Price(BaseModel):
    """USD per call plus USD per million input / output tokens, from `since` on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_call: float = Field(default=0.0, ge=0)
    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    since: date | None = None  # a scheduled list-price change takes effect on this day (UTC)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            self.per_call
            + input_tokens * self.input_per_mtok / 1e6
            + output_tokens * self.output_per_mtok / 1e6
        )


# The list prices of the models this project calls or may be switched to (standard paid
# tier, USD per million tokens; a model's output rate covers thinking tokens and, for the
# image models, image output tokens), keyed by the model id sent to the API, so that a
# change of model is priced by that model's row. GENOME_PRICES overrides or adds rows
# (docs/operations.md#prices); a live model without a row refuses to start.
# Where each row comes from (all read 2026-12-04):
# - Gemini: https://ai.google.dev/gemini-api/docs/pricing as transcribed on 2026-10-07
#   (api-evangelist/deepmind plans/deepmind-plans-pricing.yml): 3.8 Flash $0.75 / $3.75
#   through 2026-12-31 and $1.50 / $7.50 from 2027-01-01; 3.5 Flash $1.50 / $9.00;
#   3.5 Flash-Lite $0.30 / $2.50; 3 Pro Image $120 per million image output tokens (its
#   input rate is not in that copy: $2.00, the 3.1 Pro Preview text rate, is assumed).
#   3.1 Flash Image (Nano Banana 2): the stored copies of Google's page have no GA row;
#   the preview's published rates are used ($0.50 input, $60 per million image output
#   tokens, about $0.067 a 1K image), as listed for gemini-3.1-flash-image-preview on
#   https://www.getmaxim.ai/bifrost/llm-cost-calculator/provider/vertex_ai/model/gemini-3.1-flash-image-preview
#   and https://xairouter.com/en/models/gemini-3.1-flash-image-preview. Override when
#   Google's page says otherwise. Searched again 2026-12-04: no copy of Google's page with a
#   3.1 Flash Image row or 3 Pro Image's input rate was found; an earlier copy (2026-09-20,
#   api-evangelist/gemini plans/gemini-plans-pricing.yml) repeats 3 Pro Image's $120 per
#   million image tokens ("$0.134 per 1K/2K image"). Both rows stay unconfirmed.
# - Claude: https://platform.claude.com/docs/en/models/haiku-5-5/overview (Haiku 5.5
#   $0.10 / $0.50 for prompts up to 100,000 tokens, ours are ~3,000; Sonnet 5.5 $2 / $10;
#   Opus 5.5 $4 / $20) and https://platform.claude.com/docs/en/models/overview (Haiku 4.5
#   $1 / $5).
# - OpenAI: https://developers.openai.com/api/docs/guides/embeddings and the pricing page
#   it links (text-embedding-3-small $0.02, text-embedding-3-large $0.13).
PRICES: dict[str, tuple[Price, ...]] = {
    "gemini-3.1-flash-image": (Price(input_per_mtok=0.50, output_per_mtok=60.0),),
    "gemini-3-pro-image": (Price(input_per_mtok=2.00, output_per_mtok=120.0),),
    "gemini-3.5-flash-lite": (Price(input_per_mtok=0.30, output_per_mtok=2.50),),
    "gemini-3.5-flash": (Price(input_per_mtok=1.50, output_per_mtok=9.00),),
    "gemini-3.8-flash": (
        Price(input_per_mtok=0.75, output_per_mtok=3.75),
        Price(input_per_mtok=1.50, output_per_mtok=7.50, since=date(2027, 1, 1)),
    ),
    "claude-haiku-5-5": (Price(input_per_mtok=0.10, output_per_mtok=0.50),),
    "claude-sonnet-5-5": (Price(input_per_mtok=2.0, output_per_mtok=10.0),),
    "claude-opus-5-5": (Price(input_per_mtok=4.0, output_per_mtok=20.0),),
    "claude-haiku-4-5": (Price(input_per_mtok=1.0, output_per_mtok=5.0),),
    "text-embedding-3-small": (Price(input_per_mtok=0.02),),
    "text-embedding-3-large": (Price(input_per_mtok=0.13),),
}


def parse_prices(raw: str) -> dict[str, tuple[Price, ...]]:
    """GENOME_PRICES: a JSON object {model id: price or [prices]}, a price being
    {"input_per_mtok": .., "output_per_mtok": .., "per_call": .., "since": "YYYY-MM-DD"}."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"GENOME_PRICES is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("GENOME_PRICES must be a JSON object keyed by model id")
    return {
        str(model): tuple(
            Price.model_validate(p) for p in (value if isinstance(value, list) else [value])
        )
        for model, value in data.items()
    }


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

    # Defaults checked against the vendors' current model lists on 2026-12-04:
    # - Gemini: https://ai.google.dev/gemini-api/docs/deprecations lists gemini-3.8-flash
    #   (2026-09-02), gemini-3.5-flash-lite (2026-07-21), gemini-3.1-flash-image and
    #   gemini-3-pro-image (2026-05-28) as current with no shutdown date; the Gemini 2.5
    #   models were withdrawn in November 2026 with gemini-3.8-flash (for 2.5 Pro) and
    #   gemini-3.5-flash-lite (for 2.5 Flash) named as replacements
    #   (https://ai.google.dev/models/gemini lists the same). Image generation: Nano Banana 2
    #   (gemini-3.1-flash-image), Google's high-volume image model; scan and descriptor:
    #   3.5 Flash-Lite; the second opinion: 3.8 Flash.
    # - Claude: https://platform.claude.com/docs/en/models/haiku-5-5/overview: Claude
    #   Haiku 5.5 (claude-haiku-5-5, released 2026-10-07) is the latest Haiku; Haiku 4.5
    #   is its predecessor (https://platform.claude.com/docs/en/about-claude/model-deprecations).
    # - OpenAI: text-embedding-3-small is still the embeddings guide's small model
    #   (https://developers.openai.com/api/docs/guides/embeddings; openai-python's
    #   EmbeddingModel type lists text-embedding-3-small / -3-large / ada-002).
    gemini_image_model: str = "gemini-3.1-flash-image"
    gemini_scan_model: str = "gemini-3.5-flash-lite"
    gemini_descriptor_model: str = "gemini-3.5-flash-lite"
    gemini_review_model: str = "gemini-3.8-flash"
    claude_review_model: str = "claude-haiku-5-5"
    openai_embedding_model: str = "text-embedding-3-small"

    timeout_s: float = Field(default=60.0, gt=0)
    image_timeout_s: float = Field(default=120.0, gt=0)
    retry: RetrySettings = RetrySettings()
    max_review_tokens: int = Field(default=1500, gt=0)

    # One table keyed by model id (PRICES, with GENOME_PRICES merged over it).
    prices: dict[str, tuple[Price, ...]] = Field(default_factory=lambda: dict(PRICES))

    @field_validator("prices")
    @classmethod
    def _dated(cls, v: dict[str, tuple[Price, ...]]) -> dict[str, tuple[Price, ...]]:
        for model, rows in v.items():
            if not rows:
                raise ValueError(f"price of {model} has no rows")
        return v

    def require_prices(self) -> None:
        """ValueError naming every configured model without a price: live providers refuse
        to start rather than record a cost of 0 (the offline provider needs none)."""
        unpriced = sorted({m for m in self.models().values() if m not in self.prices})
        if unpriced:
            raise ValueError(
                f"no price for model(s) {', '.join(unpriced)}: add them to GENOME_PRICES "
                '(e.g. {"model-id": {"input_per_mtok": 0.3, "output_per_mtok": 2.5}})'
            )

    def models(self) -> dict[str, str]:
        """Each role's configured model id."""
        return {
            "gemini_image_model": self.gemini_image_model,
            "gemini_scan_model": self.gemini_scan_model,
            "gemini_descriptor_model": self.gemini_descriptor_model,
            "gemini_review_model": self.gemini_review_model,
            "claude_review_model": self.claude_review_model,
            "openai_embedding_model": self.openai_embedding_model,
        }

    def price(self, model: str, on: date | None = None) -> Price:
        """The list price of `model` on day `on` (default today, UTC): the latest row whose
        `since` is not after it. A model without a row is a configuration error."""
        rows = self.prices.get(model)
        if not rows:
            raise KeyError(f"no price for model {model!r} (GENOME_PRICES)")
        day = on or datetime.now(UTC).date()
        current = [p for p in rows if p.since is None or p.since <= day]
        if not current:
            raise KeyError(f"no price for model {model!r} before {min(p.since for p in rows)}")
        return max(current, key=lambda p: p.since or date.min)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProviderSettings:
        """Settings from environment variables (os.environ unless `env` is given)."""
        src = os.environ if env is None else env
        values: dict[str, object] = {}
        mode = env_mode(src)
        if mode:
            values["mode"] = mode
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
        raw_prices = src.get("GENOME_PRICES")
        if raw_prices:
            values["prices"] = dict(PRICES) | parse_prices(raw_prices)
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
