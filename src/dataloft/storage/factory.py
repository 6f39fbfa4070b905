"""Choose a blob store by URL scheme.

``check_blob_url`` holds every rule about which URLs name a store, so that the settings can
refuse a bad ``DATALOFT_BLOB_URL`` when they are read (before anything is created) with the
same message ``open_blob_store`` would give later.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import ParseResult, unquote, urlparse

from dataloft.storage.base import BlobStore
from dataloft.storage.local import LocalBlobStore
from dataloft.storage.memory import MemoryBlobStore

SCHEMES = ("file", "memory")


class BlobConfigError(ValueError):
    """The blob URL names no store dataloft knows."""


def check_blob_url(url: str) -> ParseResult:
    """``url`` parsed, if it names a store ``open_blob_store`` can open; else
    ``BlobConfigError`` saying what is wrong. Opens nothing."""
    parsed = urlparse(url)
    if parsed.scheme not in SCHEMES:
        raise BlobConfigError(
            f"unknown blob store scheme {parsed.scheme!r} in {url!r}; use file:///path or memory://"
        )
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise BlobConfigError(f"file:// blob URL must be local, got host {parsed.netloc!r}")
        # Without a path the store would spread its shards over the working directory.
        if not parsed.path:
            raise BlobConfigError(f"file:// blob URL needs an absolute path, got {url!r}")
    return parsed


def open_blob_store(url: str) -> BlobStore:
    parsed = check_blob_url(url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(unquote(parsed.path)), url)
    return MemoryBlobStore(url)
