"""A large Pigeon Optics attachment through dataloft, against the baselines.

- upload: a record write as ``multipart/form-data`` (``curl -F``: a ``body`` part and the
  attachment, rewritten from ``cid:``) vs ``dd ... conv=fdatasync`` to the same disk. Both
  end with the bytes durable on disk; dataloft also parses the multipart stream, hashes the
  bytes and commits the record.
- download: ``GET /attachments/<sha256>`` vs nginx (sendfile) serving the same file.
- memory: the server's peak RSS over both (the upload must stream, not buffer).

Run: ``.venv/bin/python bench/pigeon_attachments.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from common import (
    ADMIN_PASSWORD,
    TransferTargets,
    curl_seconds,
    dataloft_server,
    measure_transfer,
    payload_from_arguments,
)

TARGETS = TransferTargets(upload=0.5, download=0.3, rss_mb=150)


def sha256_of(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def main() -> None:
    payload = payload_from_arguments(__doc__)
    digest = sha256_of(payload.path)
    with dataloft_server() as loft:
        created = httpx.put(
            loft.url + "/datasets/create",
            json={"name": "bench"},
            auth=("admin", ADMIN_PASSWORD),
            headers={"Accept": "application/json"},
        )
        assert created.status_code == 303, created.text
        counter = iter(range(1_000_000))

        def upload() -> float:
            # A new record each time: every run really sends, parses, hashes and commits
            # the whole body (identical bytes then dedupe into the one stored blob).
            return curl_seconds(
                "-X",
                "PUT",
                "-u",
                f"admin:{ADMIN_PASSWORD}",
                "-H",
                "Accept: application/json",
                "-F",
                'body={"clip": "cid:clip.bin"};type=application/json',
                "-F",
                f"attachment=@{payload.path};filename=clip.bin;type=video/mp4",
                f"{loft.url}/datasets/admin:bench/records/clip{next(counter)}",
            )

        def download() -> float:
            return curl_seconds(f"{loft.url}/attachments/{digest}?type=video%2Fmp4")

        measure_transfer("pigeon_attachment", payload, loft, upload, download, TARGETS)


if __name__ == "__main__":
    main()
