"""1 GiB through dataloft, against the baselines, and the server's peak memory meanwhile.

- upload: ``curl -T`` into dataloft vs ``dd ... conv=fdatasync`` to the same disk
  (both end with the bytes durable on disk; dataloft also hashes and commits them).
- download: ``curl`` from dataloft vs from nginx (sendfile) serving the same file.
- memory: the dataloft process's peak RSS (VmHWM) over all of the above.

Run: ``.venv/bin/python bench/transfer.py [--size-mib 1024] [--runs 3]``
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from common import (
    bench_dir,
    best_of,
    curl_seconds,
    dataloft_server,
    make_file,
    nginx_server,
    peak_rss_mb,
    report,
)

UPLOAD_TARGET = 0.6
DOWNLOAD_TARGET = 0.3
RSS_TARGET_MB = 150


def dd_seconds(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync", "status=none"],
        check=True,
    )
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    scratch = bench_dir()
    source = make_file(scratch / f"payload-{args.size_mib}MiB.bin", size)
    subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)  # warm cache

    with dataloft_server() as loft:
        subprocess.run(
            [
                "curl",
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                loft.api + "/datasets",
                "-H",
                f"Authorization: Bearer {loft.token}",
                "-H",
                "Content-Type: application/json",
                "-d",
                '{"name": "bench"}',
            ],
            check=True,
        )
        counter = iter(range(1_000_000))
        file_url = loft.api + "/datasets/admin/bench/files/payload.bin"

        def upload() -> float:
            # A new path each time: every run really writes (identical bytes dedupe, but the
            # whole body is still received, hashed, fsynced and committed).
            url = f"{file_url}.{next(counter)}"
            return curl_seconds("-T", str(source), "-H", f"Authorization: Bearer {loft.token}", url)

        dd = best_of(args.runs, lambda: dd_seconds(source, scratch / "dd-target.bin"))
        up = best_of(args.runs, upload)
        ratio = dd / up
        report(
            "upload_1GiB_vs_dd",
            {"dataloft_MBps": round(size / up / 1e6, 1), "dd_MBps": round(size / dd / 1e6, 1)},
            ratio,
            f">= {UPLOAD_TARGET}",
            ratio >= UPLOAD_TARGET,
        )

        download_url = f"{file_url}.0"
        with nginx_server(scratch) as nginx:
            ng = best_of(args.runs, lambda: curl_seconds(f"{nginx}/{source.name}"))
            down = best_of(
                args.runs,
                lambda: curl_seconds("-H", f"Authorization: Bearer {loft.token}", download_url),
            )
        ratio = ng / down
        report(
            "download_1GiB_vs_nginx",
            {"dataloft_MBps": round(size / down / 1e6, 1), "nginx_MBps": round(size / ng / 1e6, 1)},
            ratio,
            f">= {DOWNLOAD_TARGET}",
            ratio >= DOWNLOAD_TARGET,
        )
        rss = peak_rss_mb(loft.process.pid)
        report(
            "peak_rss_upload_download_1GiB",
            {"peak_rss_MB": round(rss, 1)},
            rss,
            f"< {RSS_TARGET_MB} MB",
            rss < RSS_TARGET_MB,
        )


if __name__ == "__main__":
    main()
