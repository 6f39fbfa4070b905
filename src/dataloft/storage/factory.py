"""Choose a blob store by URL scheme.

``check_blob_url`` holds every rule about which URLs name a store, so that the settings can
refuse a bad ``DATALOFT_BLOB_URL`` when they are read (before anything is created) with the
same message ``open_blob_store`` would give later. The S3 store's module (and boto3, half a
second to import) loads only when an ``s3://`` store is opened.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import ParseResult, unquote, urlparse

from dataloft.storage.base import BlobStore
from dataloft.storage.local import LocalBlobStore
from dataloft.storage.locks import DigestLocks
from dataloft.storage.memory import MemoryBlobStore
from dataloft.storage.s3_options import S3Options

SCHEMES = ("file", "memory", "s3")

# S3's rules for names of general-purpose buckets: 3 to 63 lowercase letters, digits, dots
# and hyphens, beginning and ending with a letter or digit, no two dots in a row, not
# shaped like an IP address.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
# A segment of the key prefix: S3's "safe" characters for keys.
_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()-]+")


class BlobConfigError(ValueError):
    """The blob URL names no store dataloft knows."""


def check_blob_url(url: str) -> ParseResult:
    """``url`` parsed, if it names a store ``open_blob_store`` can open; else
    ``BlobConfigError`` saying what is wrong. Opens nothing."""
    parsed = urlparse(url)
    if parsed.scheme not in SCHEMES:
        raise BlobConfigError(
            f"unknown blob store scheme {parsed.scheme!r} in {url!r}; "
            "use file:///path, s3://bucket/prefix or memory://"
        )
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise BlobConfigError(f"file:// blob URL must be local, got host {parsed.netloc!r}")
        # Without a path the store would spread its shards over the working directory.
        if not parsed.path:
            raise BlobConfigError(f"file:// blob URL needs an absolute path, got {url!r}")
    if parsed.scheme == "s3":
        _check_s3(url, parsed)
    return parsed


def _check_s3(url: str, parsed: ParseResult) -> None:
    bucket = parsed.netloc
    if not bucket:
        raise BlobConfigError(f"s3:// blob URL needs a bucket (s3://bucket/prefix), got {url!r}")
    if parsed.params or parsed.query or parsed.fragment or "@" in bucket or ":" in bucket:
        raise BlobConfigError(
            f"s3:// blob URL takes a bucket and a key prefix only (s3://bucket/prefix), got {url!r}"
        )
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_LIKE.fullmatch(bucket):
        raise BlobConfigError(
            f"not a valid S3 bucket name {bucket!r}: 3 to 63 lowercase letters, digits, dots "
            "and hyphens, beginning and ending with a letter or digit"
        )
    prefix = parsed.path.strip("/")
    if prefix and not all(
        _SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in prefix.split("/")
    ):
        raise BlobConfigError(
            f"not a usable S3 key prefix {parsed.path!r} in {url!r}: names of letters, digits "
            "and !_.*'()- separated by single slashes"
        )


def open_blob_store(
    url: str, *, locks: DigestLocks | None = None, s3: S3Options | None = None
) -> BlobStore:
    """The store ``url`` names. An ``s3://`` store needs ``locks`` (see ``storage/s3.py``:
    which ones depends on who else uses the bucket) and takes ``s3``, how to reach it."""
    parsed = check_blob_url(url)
    if parsed.scheme == "file":
        return LocalBlobStore(Path(unquote(parsed.path)), url)
    if parsed.scheme == "s3":
        if locks is None:
            raise ValueError("an s3:// blob store needs digest locks (storage/locks.py)")
        from dataloft.storage.s3 import S3BlobStore

        return S3BlobStore(parsed.netloc, parsed.path, locks, s3, url=url)
    return MemoryBlobStore(url)
