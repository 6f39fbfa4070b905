"""Test helpers that work on any blob store: what a test needs to say about stored blobs
without knowing whether they are files or S3 objects."""

from __future__ import annotations

import os
import time

from dataloft.config import Settings
from dataloft.storage.base import BlobStore
from dataloft.storage.local import LocalBlobStore
from dataloft.storage.memory import MemoryBlobStore
from dataloft.storage.s3 import STAMP, S3BlobStore


def age(store: BlobStore, digest: str, seconds: float) -> None:
    """Make a stored blob look last published ``seconds`` ago."""
    stamp = time.time() - seconds
    if isinstance(store, LocalBlobStore):
        os.utime(store.path_of(digest), (stamp, stamp))
    elif isinstance(store, S3BlobStore):
        # What a publish that long ago left: the object with that stamp (storage/s3.py).
        key = store.key_of(digest)
        store.client.copy_object(
            Bucket=store.bucket,
            Key=key,
            CopySource={"Bucket": store.bucket, "Key": key},
            MetadataDirective="REPLACE",
            Metadata={STAMP: str(stamp)},
        )
    else:
        assert isinstance(store, MemoryBlobStore)
        store.times[digest] = stamp


def blob_env(settings: Settings) -> dict[str, str]:
    """The variables that give a command (``dataloft gc``) the same blob store as
    ``settings``."""
    env = {"DATALOFT_BLOB_URL": settings.blob_url}
    if settings.s3_endpoint_url is not None:
        env["DATALOFT_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if settings.s3_region is not None:
        env["DATALOFT_S3_REGION"] = settings.s3_region
    return env
