"""1 GiB through dataloft, against the baselines, and the server's peak memory meanwhile.

- upload: ``curl -T`` into dataloft vs ``dd ... conv=fdatasync`` to the same disk
  (both end with the bytes durable on disk; dataloft also hashes and commits them).
- download: ``curl`` from dataloft vs from nginx (sendfile) serving the same file.
- memory: the dataloft process's peak RSS (VmHWM) over all of the above.

Run: ``.venv/bin/python bench/transfer.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import httpx

from common import (
    TransferTargets,
    curl_seconds,
    dataloft_server,
    measure_transfer,
    payload_from_arguments,
)

TARGETS = TransferTargets(upload=0.6, download=0.3, rss_mb=150)


def main() -> None:
    payload = payload_from_arguments(__doc__)
    with dataloft_server() as loft:
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

        measure_transfer("native", payload, loft, upload, download, TARGETS)


if __name__ == "__main__":
    main()
