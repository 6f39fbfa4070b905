"""1 GiB through dataloft's native API, against the baselines, and the server's peak memory.

- upload: ``curl -T`` into dataloft (the body received, hashed, fsynced and committed),
  with the data directory on tmpfs against hashlib's sha256 of the same bytes (the CPU
  path), and on disk against the slower of that sha256 and ``dd ... conv=fdatasync``;
- download: ``curl`` from dataloft vs from nginx (sendfile) serving the same file;
- memory: the dataloft processes' peak RSS (VmHWM) over all of the above.

Run: ``.venv/bin/python bench/transfer.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from common import (
    TRANSFER_TARGETS,
    Loft,
    curl_seconds,
    measure_transfer,
    payload_from_arguments,
)


def main() -> None:
    payload = payload_from_arguments(__doc__)

    def moves(loft: Loft) -> tuple[Callable[[], float], Callable[[], float]]:
        created = httpx.post(loft.api + "/datasets", json={"name": "bench"}, headers=loft.auth)
        assert created.status_code == 201, created.text
        counter = iter(range(1_000_000))
        file_url = loft.api + "/datasets/admin/bench/files/payload.bin"
        auth = f"Authorization: Bearer {loft.token}"

        def upload() -> float:
            # A new path each time: every run really writes (identical bytes dedupe, but the
            # whole body is still received, hashed, fsynced and committed).
            return curl_seconds("-T", str(payload.path), "-H", auth, f"{file_url}.{next(counter)}")

        def download() -> float:
            return curl_seconds("-H", auth, f"{file_url}.0")

        return upload, download

    measure_transfer("native", payload, moves, TRANSFER_TARGETS)


if __name__ == "__main__":
    main()
