"""Image storage: keys <organization id>/<file name> under one storage root.

Every reader of ad images (the pipeline, sim/report.py) resolves a generated_ads.storage_path
through `resolve`: the app writes that column, so it is untrusted input, and a path outside
the root (absolute, "..", a symlink leading out) must never be read
(docs/attacks.md#agents-and-the-queue). The database refuses such keys from the app and the
agents (genome._check_storage_key); this is the reading side's check.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from uuid import UUID

from agents.settings import project_root


class ImageUnavailable(LookupError):
    """The key names no readable image inside the storage root (refused, or missing: one
    error for both, so a caller learns nothing about files outside the root)."""

    def __init__(self) -> None:
        super().__init__("the ad's image is not available in storage")


def storage_dir() -> Path:
    """GENOME_STORAGE_DIR, default <project root>/out/storage."""
    env = os.environ.get("GENOME_STORAGE_DIR")
    return Path(env) if env else project_root() / "out" / "storage"


def image_key(organization_id: UUID | str, ad_id: UUID | str) -> str:
    """The storage key of an ad's image: <organization id>/<ad id>.png."""
    return f"{UUID(str(organization_id))}/{UUID(str(ad_id))}.png"


def resolve(key: str | None, root: Path | None = None) -> Path:
    """The file `key` names inside `root` (default storage_dir()); ImageUnavailable when the
    key is not a relative path of plain names, resolves outside the root (symlinks followed),
    or names no regular file."""
    base = (root if root is not None else storage_dir()).resolve()
    parts = PurePosixPath(key or "").parts
    if not parts or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise ImageUnavailable()
    if PurePosixPath(key or "").is_absolute() or ":" in parts[0]:
        raise ImageUnavailable()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise ImageUnavailable()
    return path


def read_image(key: str | None, root: Path | None = None) -> bytes:
    """The bytes of the image `key` names (see resolve)."""
    try:
        return resolve(key, root).read_bytes()
    except OSError as exc:
        raise ImageUnavailable() from exc
