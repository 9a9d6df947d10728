"""A generated image is checked before it is stored: a truncated PNG fails the attempt."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from agents import pngcache
from agents.pipeline import StageFailed, check_png
from agents.providers.offline.render import from_png


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


def test_a_decoded_image_is_kept_but_never_changed_by_a_reader() -> None:
    """check_png and the offline provider share one decode per image (agents/pngcache.py):
    the damaged copy of a checked image still fails, and changing the RGB image the
    provider got does not change what the next reader gets."""
    pngcache.clear()
    png = _png()
    check_png(png)
    with pytest.raises(StageFailed, match="not a valid PNG"):
        check_png(png[: len(png) // 2])
    first = from_png(png)
    first.paste((0, 0, 0), (0, 0, 64, 48))
    assert from_png(png).getpixel((0, 0)) == (200, 30, 30)
    assert pngcache.decode_png(png) is pngcache.decode_png(png)  # decoded once


def test_the_decode_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    pngcache.clear()
    monkeypatch.setattr(pngcache, "MAX_CACHED_BYTES", 64 * 48 * 3 * 2)
    pngs = []
    for shade in range(4):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (shade, 0, 0)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    kept = [pngcache.decode_png(p) for p in pngs]
    assert len(pngcache._cache) == 2 and pngcache._cached_bytes == 64 * 48 * 3 * 2
    assert pngcache.decode_png(pngs[0]) is not kept[0]  # the oldest was dropped
    assert pngcache.decode_png(pngs[3]) is kept[3]
