"""Pbench ``contents`` of a large tarball against a small one: the same directory listing
(``metadata.log``, ``results/`` and ``summary/``, whose three files are listed) in a
tarball of 10,000 members, 9,990 of them under ``results/``, and in one of 10. Listing a
directory must not cost more for all that lies elsewhere in the dataset: the median time of
``GET .../contents/summary`` and of the top directory in the large dataset, over the same in
the small one, must stay under 1.5.

Run: ``.venv/bin/python bench/pbench_contents.py [--requests 200]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import tarfile
import time

import httpx

from common import dataloft_server, report

TARGET = 1.5


def _tarball(name: str, members: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:

        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        add("metadata.log", f"[pbench]\nname = {name}\nscript = fio\n".encode())
        for number in range(3):
            add(f"summary/part{number}.txt", f"summary {number}\n".encode())
        for number in range(members - 4):
            add(f"results/{number // 100:03d}/sample{number:05d}.txt", f"{number}\n".encode())
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with (
        dataloft_server() as loft,
        httpx.Client(base_url=loft.url, headers=loft.auth, timeout=600) as client,
    ):
        ids = {}
        for label, members in (("small", 10), ("large", 10_000)):
            name = f"fio_{label}_2026.12.07T00.00.00"
            data = _tarball(name, members)
            md5 = hashlib.md5(data).hexdigest()
            made = client.put(
                f"/api/v1/upload/{name}.tar.xz", content=data, headers={"Content-MD5": md5}
            )
            assert made.status_code == 201, made.text
            ids[label] = md5
        for path in ("summary", ""):
            times: dict[str, list[float]] = {"small": [], "large": []}
            for _ in range(args.requests):
                for label in ("small", "large"):  # alternated: load weighs on both alike
                    started = time.perf_counter()
                    listed = client.get(f"/api/v1/datasets/{ids[label]}/contents/{path}")
                    times[label].append(time.perf_counter() - started)
                    assert listed.status_code == 200, listed.text
            small, large = (statistics.median(times[k]) * 1000 for k in ("small", "large"))
            where = path or "top"
            report(
                f"pbench_contents_{where}_10000_vs_10_members",
                {"large_median_ms": round(large, 2), "small_median_ms": round(small, 2)},
                large / small,
                f"<= {TARGET}",
                large / small <= TARGET,
            )


if __name__ == "__main__":
    main()
