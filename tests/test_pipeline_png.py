"""A generated image is checked before it is stored: a truncated PNG fails the attempt."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from agents.pipeline import StageFailed, check_png


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_complete_png_passes() -> None:
    check_png(_png())


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b"",  # empty
        lambda b: b"not an image at all",
        lambda b: b[:20] + bytes(len(b) - 20),  # header kept, data zeroed
    ],
)
def test_a_damaged_png_fails_the_attempt(damage) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StageFailed, match="not a valid PNG"):
        check_png(damage(_png()))


def test_another_format_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    with pytest.raises(StageFailed, match="not PNG"):
        check_png(buf.getvalue())
