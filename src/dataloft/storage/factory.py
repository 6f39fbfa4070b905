"""Choose a blob store by URL scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from dataloft.storage.base import BlobStore
from dataloft.storage.local import LocalBlobStore
from dataloft.storage.memory import MemoryBlobStore


class BlobConfigError(ValueError):
    """The blob URL names no store dataloft knows."""


def open_blob_store(url: str) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise BlobConfigError(f"file:// blob URL must be local, got host {parsed.netloc!r}")
        return LocalBlobStore(Path(unquote(parsed.path)), url)
    if parsed.scheme == "memory":
        return MemoryBlobStore(url)
    raise BlobConfigError(
        f"unknown blob store scheme {parsed.scheme!r} in {url!r}; use file:///path or memory://"
    )
