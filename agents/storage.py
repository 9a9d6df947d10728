"""Image storage: one store (a local directory or an S3-compatible bucket) holding each image
under the key <organization id>/<file name>; generated_ads.storage_path holds the image's URI.

The store is configured by GENOME_STORAGE_URL (docs/operations.md#image-storage):
`file:///dir` (the default is file://<project root>/out/storage, or GENOME_STORAGE_DIR when
set) or `s3://bucket/prefix` (Supabase Storage and any S3-compatible service, through
fsspec's s3fs; endpoint GENOME_S3_ENDPOINT_URL, credentials and region as botocore reads
them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). The agents write
`<store URL>/<organization id>/<ad id>.png`, a URI any host configured with the same store
can read; the app may also write a bare key, read against the reader's store.

Every reader of ad images (the pipeline, the dashboard, sim/report.py) goes through
`Store.read`: the app writes storage_path, so it is untrusted input, and an image outside
the reader's store or outside the ad's own organization's prefix (another scheme or bucket,
an absolute path, "..", a symlink leading out) must never be read
(docs/attacks.md#agents-and-the-queue). The database refuses such values from the app and
the agents (genome._check_storage_key); this is the reading side's check, which also binds
the value to this reader's store, something the database cannot know.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from agents.settings import project_root

# One file name inside an organization's prefix: the same rule as genome._check_storage_key.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_ORG = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A bucket name (S3's rules, loosely) and the prefix segments a store URL may have.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,62}")
_SEGMENT = re.compile(r"[A-Za-z0-9_.~+-]+")


class ImageUnavailable(LookupError):
    """The storage path names no readable image inside the store (refused, or missing: one
    error for both, so a caller learns nothing about objects outside the store)."""

    def __init__(self) -> None:
        super().__init__("the ad's image is not available in storage")


class StorageConfigError(ValueError):
    """GENOME_STORAGE_URL is not a store this project can use."""


def image_key(organization_id: UUID | str, ad_id: UUID | str) -> str:
    """The storage key of an ad's image: <organization id>/<ad id>.png."""
    return f"{UUID(str(organization_id))}/{UUID(str(ad_id))}.png"


def _check_key(key: str, organization_id: UUID | str | None) -> str:
    """`key` when it is <organization id>/<file name> (of `organization_id` when given)."""
    parts = key.split("/")
    if (
        len(parts) != 2
        or not _ORG.fullmatch(parts[0])
        or not _FILE_NAME.fullmatch(parts[1])
        or ".." in parts[1]
        or (organization_id is not None and parts[0] != str(UUID(str(organization_id))))
    ):
        raise ImageUnavailable()
    return key


@dataclass(frozen=True)
class Store:
    """Where images live: `url` is the canonical store URL (no trailing slash), `root` the
    same place as the filesystem `fs` names it (a local directory, or bucket/prefix). A
    local store has no `fs`: it reads and writes through pathlib (put, read)."""

    url: str
    root: str
    fs: Any = field(compare=False, repr=False)

    @property
    def local(self) -> bool:
        return self.url.startswith("file://")

    @classmethod
    def from_url(cls, url: str) -> Store:
        """The store a GENOME_STORAGE_URL names (StorageConfigError when it is not one)."""
        parts = urlsplit(url)
        if parts.query or parts.fragment or "%" in url:
            raise StorageConfigError(f"storage URL {url!r}: no query, fragment or %-escape")
        segments = [s for s in parts.path.split("/") if s]
        if any(not _SEGMENT.fullmatch(s) or s == "." or ".." in s for s in segments):
            raise StorageConfigError(f"storage URL {url!r}: a path of plain names only")
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise StorageConfigError(f"storage URL {url!r}: a file URL names no host")
            return cls.directory(Path("/", *segments))
        if parts.scheme == "s3":
            if not _BUCKET.fullmatch(parts.netloc):
                raise StorageConfigError(f"storage URL {url!r}: no valid bucket name")
            root = "/".join([parts.netloc, *segments])
            # imported here: a local store does without fsspec, which costs an agent
            # start-up time (docs/operations.md#start-up)
            import fsspec

            return cls(f"s3://{root}", root, fsspec.filesystem("s3", **_s3_options()))
        raise StorageConfigError(f"storage URL {url!r}: the scheme must be file or s3")

    @classmethod
    def directory(cls, path: Path | str) -> Store:
        """A local directory store (the directory need not exist yet)."""
        root = Path(path).resolve()
        return cls(root.as_uri(), str(root), None)

    def uri(self, key: str) -> str:
        """The URI of `key` in this store (what storage_path holds)."""
        return f"{self.url}/{_check_key(key, None)}"

    def key(self, storage_path: str | None, organization_id: UUID | str | None = None) -> str:
        """The key a storage_path names in this store: a URI of this store, or a bare key
        <organization id>/<file name>; of `organization_id` when given. ImageUnavailable
        for anything else (another scheme, bucket, prefix or organization, "..")."""
        value = storage_path or ""
        if "://" in value:
            if not value.startswith(self.url + "/"):
                raise ImageUnavailable()
            value = value[len(self.url) + 1 :]
        return _check_key(value, organization_id)

    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key` (a retry overwrites it) and return its URI."""
        uri = self.uri(key)
        path = f"{self.root}/{key}"
        if self.local:
            # Local writes go through a temporary name and a rename so that a reader never
            # sees half a file (an S3 PUT is atomic by itself).
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(path, data)
        return uri

    def read(self, storage_path: str | None, organization_id: UUID | str | None = None) -> bytes:
        """The bytes of the image `storage_path` names (see key); ImageUnavailable when it is
        refused or missing, never telling which."""
        key = self.key(storage_path, organization_id)
        try:
            if self.local:
                base = Path(self.root).resolve()
                path = base.joinpath(*key.split("/")).resolve()
                # symlinks followed: a link leading out of the store is refused
                if not path.is_relative_to(base) or not path.is_file():
                    raise ImageUnavailable()
                return path.read_bytes()
            return bytes(self.fs.cat_file(f"{self.root}/{key}"))
        except ImageUnavailable:
            raise
        except Exception as exc:  # a missing object, a denied read, a network failure
            raise ImageUnavailable() from exc


def _s3_options() -> dict[str, Any]:
    """s3fs options from the environment: GENOME_S3_ENDPOINT_URL (an S3-compatible service
    such as Supabase Storage, addressed path-style); botocore reads credentials and region
    from AWS_* itself."""
    # fsspec caches filesystem instances by their arguments; credentials read from the
    # environment are not among them, so each store gets its own client
    options: dict[str, Any] = {"skip_instance_cache": True}
    endpoint = os.environ.get("GENOME_S3_ENDPOINT_URL")
    if endpoint:
        options |= {
            "endpoint_url": endpoint,
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }
    return options


def open_store(url: str | None = None) -> Store:
    """The store `url` names; default GENOME_STORAGE_URL, else the directory
    GENOME_STORAGE_DIR, else <project root>/out/storage."""
    url = url or os.environ.get("GENOME_STORAGE_URL")
    if url:
        return Store.from_url(url)
    return Store.directory(os.environ.get("GENOME_STORAGE_DIR") or project_root() / "out/storage")
