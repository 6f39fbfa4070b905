"""How an S3 blob store reaches its service: apart from ``storage/s3.py`` so that the
settings can build it without importing boto3."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Options:
    """How to reach the service: ``endpoint_url`` for a service other than AWS (MinIO,
    moto, ...), the region, and whether downloads may be redirected to presigned URLs.
    Credentials are not here: boto3 finds them as every AWS tool does (``AWS_ACCESS_KEY_ID``
    and ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, the instance's role, ...)."""

    endpoint_url: str | None = None
    region: str | None = None
    presign_seconds: int | None = None  # None: no presigned downloads
