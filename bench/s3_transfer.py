"""1 GiB through dataloft's native API with the S3 blob store, against the local store.

Two servers in the same run, SQLite each: one whose blobs go to a bucket of moto's S3
server (a process of its own on 127.0.0.1, which keeps objects in memory), one whose data
directory is on tmpfs (so that both stores keep the bytes in memory). Upload (``curl -T``
to ``PUT .../files/{path}``: received, hashed, staged as a multipart upload, copied into
place on the S3 side; fsynced and linked on the other) and download (``curl``) of the same
payload, best of ``--runs``. The S3 figures measure dataloft's S3 path and moto together
(moto is a Python server, and likely the slower part), so the line gives their ratio to
the local store and sets no target; the servers' peak RSS shows that staging holds at most
two parts of a blob in memory.

Run: ``.venv/bin/python bench/s3_transfer.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import httpx

from common import (
    Loft,
    Payload,
    curl_seconds,
    dataloft_server,
    free_port,
    payload_from_arguments,
    peak_rss_mb,
    report,
    terminate,
    tmpfs_dir,
    wait_for,
)

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
REGION = "us-east-1"
BUCKET = "dataloft-bench"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free port; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/moto-api/")
        yield url
    finally:
        terminate(process, timeout=10)


def best_transfers(loft: Loft, payload: Payload) -> tuple[float, float]:
    """The best upload and download seconds of ``payload.runs`` rounds."""
    created = httpx.post(loft.api + "/datasets", json={"name": "bench"}, headers=loft.auth)
    assert created.status_code == 201, created.text
    file_url = loft.api + "/datasets/admin/bench/files/payload.bin"
    auth = f"Authorization: Bearer {loft.token}"
    uploads, downloads = [], []
    for run in range(payload.runs):
        # A new path each time: every run sends the whole body (the bytes dedupe: the
        # store refreshes the blob it has rather than storing a second copy).
        uploads.append(curl_seconds("-T", str(payload.path), "-H", auth, f"{file_url}.{run}"))
        downloads.append(curl_seconds("-H", auth, f"{file_url}.0"))
    return min(uploads), min(downloads)


def main() -> None:
    payload = payload_from_arguments(__doc__)
    # The servers inherit this environment: the bench's keys, not a developer's profile.
    os.environ.pop("AWS_PROFILE", None)
    megabytes = payload.size / 1e6
    with moto_server() as endpoint:
        s3 = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3_env: dict[str, str] = {
            **CREDENTIALS,
            "DATALOFT_BLOB_URL": f"s3://{BUCKET}/blobs",
            "DATALOFT_S3_ENDPOINT_URL": endpoint,
            "DATALOFT_S3_REGION": REGION,
        }
        with dataloft_server(None, **s3_env) as loft:
            s3_up, s3_down = best_transfers(loft, payload)
            s3_rss = peak_rss_mb(loft.process.pid)
    with dataloft_server(parent=tmpfs_dir()) as loft:
        local_up, local_down = best_transfers(loft, payload)
        local_rss = peak_rss_mb(loft.process.pid)
    figures: dict[str, float | str] = {
        "size_mib": payload.mib,
        "s3_upload_MBps": round(megabytes / s3_up, 1),
        "local_upload_MBps": round(megabytes / local_up, 1),
        "upload_ratio": round(local_up / s3_up, 3),
        "s3_download_MBps": round(megabytes / s3_down, 1),
        "local_download_MBps": round(megabytes / local_down, 1),
        "download_ratio": round(local_down / s3_down, 3),
        "s3_server_peak_rss_mb": round(s3_rss, 1),
        "local_server_peak_rss_mb": round(local_rss, 1),
    }
    # The headline ratio: the slower direction's, S3 store over local store.
    ratio = min(local_up / s3_up, local_down / s3_down)
    report("s3_transfer", figures, ratio, "reported, no target (moto is the S3 side)", True)


if __name__ == "__main__":
    main()
