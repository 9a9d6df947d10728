"""Decoded PNGs, kept by content hash for the next job of the same ad in this process.

Every stage of an ad reads its stored image: the pipeline checks that it decodes
(pipeline.check_png), then the offline provider decodes it again to measure or describe it
(docs/operations.md#image-storage). A decode is a pure function of the bytes, so the second
one, and those of the ad's later stages in the same process, take the image decoded the
first time: the same pixels, the same errors for bytes that do not decode (a failure is
never kept). Callers must not change a returned image (convert or copy it first).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image

# An agent has a few ads in flight (concurrency 4); a live model's full-size image is
# ~1024x1024x3 bytes decoded, so the bound is on pixels, not on entries.
MAX_CACHED_BYTES = 48 * 1024 * 1024

_cache: OrderedDict[bytes, Image.Image] = OrderedDict()
_cached_bytes = 0
_lock = threading.Lock()


def _size(img: Image.Image) -> int:
    return img.width * img.height * len(img.getbands())


def decode_png(png: bytes) -> Image.Image:
    """The image the bytes hold, loaded (Image.open + load: UnidentifiedImageError,
    OSError or SyntaxError when they do not decode). Its `format` is the file's."""
    global _cached_bytes
    key = hashlib.sha256(png).digest()
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    img = Image.open(io.BytesIO(png))
    img.load()
    size = _size(img)
    if size > MAX_CACHED_BYTES:
        return img
    with _lock:
        if key not in _cache:
            _cache[key] = img
            _cached_bytes += size
        while _cached_bytes > MAX_CACHED_BYTES:
            _, old = _cache.popitem(last=False)
            _cached_bytes -= _size(old)
    return img


def clear() -> None:
    """Forget every decoded image (tests)."""
    global _cached_bytes
    with _lock:
        _cache.clear()
        _cached_bytes = 0
