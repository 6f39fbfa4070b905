"""A large Pigeon Optics attachment through dataloft, against the baselines.

- upload: a record write as ``multipart/form-data`` (``curl -F``: a ``body`` part and the
  attachment, rewritten from ``cid:``; the multipart stream parsed, the bytes hashed and
  fsynced, the record committed), with the data directory on tmpfs against hashlib's sha256
  of the same bytes (the CPU path), and on disk against the slower of that sha256 and
  ``dd ... conv=fdatasync``;
- download: ``GET /attachments/<sha256>`` vs nginx (sendfile) serving the same file.
- memory: the servers' peak RSS over all of the above (the upload must stream, not buffer).

Run: ``.venv/bin/python bench/pigeon_attachments.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx

from common import (
    ADMIN_PASSWORD,
    TRANSFER_TARGETS,
    Loft,
    curl_seconds,
    measure_transfer,
    payload_from_arguments,
)


def sha256_of(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def main() -> None:
    payload = payload_from_arguments(__doc__)
    digest = sha256_of(payload.path)

    def moves(loft: Loft) -> tuple[Callable[[], float], Callable[[], float]]:
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

        return upload, download

    measure_transfer("pigeon_attachment", payload, moves, TRANSFER_TARGETS)


if __name__ == "__main__":
    main()
