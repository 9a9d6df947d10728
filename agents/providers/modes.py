"""The provider modes and vendors, without pydantic: an offline agent resolves its mode
from these alone, and reads no other provider setting (docs/operations.md#start-up).
agents/providers/settings.py re-exports them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Mode = Literal["offline", "live"]
MODES: tuple[str, ...] = ("offline", "live")
Vendor = Literal["gemini", "anthropic", "openai"]
# The environment variables of each vendor's key, for messages naming a missing one.
KEY_NAMES: dict[Vendor, str] = {
    "gemini": "GEMINI_API_KEY (or GOOGLE_API_KEY)",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}


def env_mode(env: Mapping[str, str]) -> str | None:
    """GENOME_PROVIDER, lower case (None when unset); ValueError when it is not a mode."""
    raw = env.get("GENOME_PROVIDER")
    if not raw:
        return None
    mode = raw.strip().lower()
    if mode not in MODES:
        raise ValueError(
            f"GENOME_PROVIDER={raw!r} is not one of {', '.join(MODES)}"
            + (
                " (auto, which switched to the offline provider when a key was missing, is gone)"
                if mode == "auto"
                else ""
            )
        )
    return mode
