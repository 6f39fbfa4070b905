"""A 1 GiB Pbench tarball uploaded (``PUT /api/v1/upload/<name>.tar.xz``: received, MD5 and
sha256 computed, fsynced, then every member indexed into a dataset version as
deduplicated blobs and committed) against ``dd ... conv=fdatasync`` of the same file to
the same disk, in the same run; and the server's peak RSS.

The tarball: ``<name>/metadata.log`` and 16 files of 64 MiB of random bytes, as an .xz
whose data is stored (``xz_store.py``: random bytes do not compress, and ``xz -0`` would
take minutes to find that out). Each round deletes the dataset after its upload, so that
the next one is a new upload, not Pbench's "already exists".

As context the line gives ``hashing_floor_MBps``, the irreducible work measured in the same
run: the tarball's MD5 (``Content-MD5``) and sha256 (its blob), and the xz decoded and its
members' sha256 (their blobs), on three threads with nothing written: no upload can be
faster than that on the machine, whatever the disk. MD5 runs at about 720 MB/s on one core
here, so where ``dd`` writes faster than the hashing floor the ratio's bound is the CPU's.

Run: ``.venv/bin/python bench/pbench_upload.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from common import (
    bench_dir,
    dataloft_server,
    dd_seconds,
    peak_rss_mb,
    report,
    report_at_least,
    tmpfs_dir,
)
from xz_store import write_stored_xz

PIECE = 1024 * 1024
NAME = "uperf_bench_2026.12.07T00.00.00"
MEMBERS = 16
TARGET = 0.5
RSS_MB = 150


def _tar_pieces(size: int) -> Iterator[bytes]:
    """A tar stream of ``<NAME>/metadata.log`` and ``MEMBERS`` random files, in pieces."""
    buffer = io.BytesIO()
    archive = tarfile.open(fileobj=buffer, mode="w|")  # noqa: SIM115 (closed below)

    def drain() -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return data

    log = f"[pbench]\nname = {NAME}\nscript = uperf\n".encode()
    info = tarfile.TarInfo(f"{NAME}/metadata.log")
    info.size = len(log)
    archive.addfile(info, io.BytesIO(log))
    each = size // MEMBERS
    for number in range(MEMBERS):
        info = tarfile.TarInfo(f"{NAME}/results/sample{number:02d}.bin")
        info.size = each
        archive.addfile(info, _Random(each))
        yield drain()
    archive.close()
    yield drain()


class _Random(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def payload(size: int) -> Path:
    path = tmpfs_dir() / f"pbench-{size >> 20}MiB.tar.xz"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            write_stored_xz(out, _tar_pieces(size))
        partial.rename(path)
    return path


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as source:
        while piece := source.read(PIECE):
            yield piece


def _hash_file(path: Path, digest: Any) -> None:
    for piece in _pieces(path):
        digest.update(piece)


def _hash_members(path: Path) -> None:
    decoder = lzma.LZMADecompressor()
    digest = hashlib.sha256()
    for piece in _pieces(path):
        digest.update(decoder.decompress(piece))
    assert decoder.eof


def hashing_seconds(path: Path) -> float:
    """The irreducible work of an upload (see the module docstring), three threads at once
    (hashlib and lzma let go of the GIL)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(3) as pool:
        jobs = [
            pool.submit(_hash_file, path, hashlib.md5(usedforsecurity=False)),
            pool.submit(_hash_file, path, hashlib.sha256()),
            pool.submit(_hash_members, path),
        ]
        for job in jobs:
            job.result()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tarball = payload(args.size_mib * 1024 * 1024)
    md5 = hashlib.md5(tarball.read_bytes()).hexdigest()
    size_mb = tarball.stat().st_size / 1e6
    uploads: list[float] = []
    copies: list[float] = []
    floors: list[float] = []
    with dataloft_server() as loft:
        auth = f"Authorization: Bearer {loft.token}"
        url = f"{loft.url}/api/v1/upload/{NAME}.tar.xz"
        for _ in range(args.runs):
            copies.append(dd_seconds(tarball, bench_dir() / "dd-target.bin"))
            floors.append(hashing_seconds(tarball))
            started = time.perf_counter()
            done = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--fail",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-T",
                    str(tarball),
                    "-H",
                    auth,
                    "-H",
                    f"Content-MD5: {md5}",
                    url,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            uploads.append(time.perf_counter() - started)
            assert done.stdout == "201", done.stdout
            gone = httpx.delete(f"{loft.url}/api/v1/datasets/{md5}", headers=loft.auth, timeout=60)
            assert gone.status_code == 200, gone.text
        rss = peak_rss_mb(loft.process.pid)
    upload, copy = min(uploads), min(copies)
    report_at_least(
        f"pbench_tarball_upload_{args.size_mib}MiB_vs_dd",
        {
            "dataloft_MBps": round(size_mb / upload, 1),
            "dd_MBps": round(size_mb / copy, 1),
            "hashing_floor_MBps": round(size_mb / min(floors), 1),
        },
        copy / upload,
        TARGET,
    )
    report(
        f"pbench_tarball_upload_peak_rss_{args.size_mib}MiB",
        {"peak_rss_MB": round(rss, 1)},
        rss,
        f"< {RSS_MB} MB",
        rss < RSS_MB,
    )


if __name__ == "__main__":
    main()
