"""UFDL against the native API on the same work: 1,000 small files added one by one, then
the dataset downloaded as a zip.

dataloft runs as ``dataloft serve`` on the embedded default (SQLite + local files) in its
own process. In each round, one client adds ``--files`` files of 1 KiB (different bytes
in every round) to a new dataset through UFDL (``POST /v1/datasets/{pk}/files/{name}``
with ``Content-Disposition``, as UFDL's python client sends it) and downloads it as a zip
(``POST /v1/datasets/{pk}/download``); the same client does the same through the native
API (``PUT /loft/v1/datasets/{owner}/{name}/files/{path}``, ``GET .../archive.zip``).
Each side is one commit per file. The rounds alternate, so both see the same machine;
the ratio compares the medians of the whole runs (UFDL's time over native's; target
≤ 1.5).

Run: ``.venv/bin/python bench/ufdl_files.py [--files 1000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import zipfile

import httpx

from common import admin_token, dataloft_server, report

TARGET = 1.5
SIZE = 1024
MIT = 11


def files(count: int, round_: int) -> list[tuple[str, bytes]]:
    """``count`` files of SIZE bytes in a few folders, different in every round."""
    return [
        (f"part-{n % 10}/file-{n:05d}.bin", os.urandom(SIZE - 16) + f"{round_:08d}{n:08d}".encode())
        for n in range(count)
    ]


def ufdl_seconds(
    client: httpx.Client, project: int, name: str, batch: list[tuple[str, bytes]]
) -> float:
    made = client.post(
        "/v1/datasets/create",
        json={"name": name, "project": project, "licence": MIT, "tags": "", "description": ""},
    )
    made.raise_for_status()
    pk = made.json()["pk"]
    started = time.perf_counter()
    for filename, data in batch:
        client.post(
            f"/v1/datasets/{pk}/files/{filename}",
            content=data,
            headers={
                "Content-Disposition": f"attachment; filename={filename}",
                "Content-Type": "application/data",
            },
        ).raise_for_status()
    archive = client.post(f"/v1/datasets/{pk}/download", json={"filetype": "zip", "params": {}})
    archive.raise_for_status()
    elapsed = time.perf_counter() - started
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == len(batch)
    return elapsed


def native_seconds(client: httpx.Client, name: str, batch: list[tuple[str, bytes]]) -> float:
    client.post("/loft/v1/datasets", json={"name": name}).raise_for_status()
    started = time.perf_counter()
    for path, data in batch:
        client.put(f"/loft/v1/datasets/admin/{name}/files/{path}", content=data).raise_for_status()
    archive = client.get(f"/loft/v1/datasets/admin/{name}/archive.zip")
    archive.raise_for_status()
    elapsed = time.perf_counter() - started
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == len(batch)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ufdl, native = [], []
    with dataloft_server() as loft:
        token = admin_token(loft.url)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=loft.url, headers=headers, timeout=600) as client:
            team = client.post("/v1/teams/create", json={"name": "bench"}).json()
            project = client.post(
                "/v1/projects/create", json={"name": "bench", "team": team["pk"]}
            ).json()["pk"]
            warm = files(50, -1)
            ufdl_seconds(client, project, "warm-up", warm)
            native_seconds(client, "warm-up", warm)
            for round_ in range(args.rounds):
                batch = files(args.files, round_)
                ufdl.append(ufdl_seconds(client, project, f"ufdl-{round_}", batch))
                native.append(native_seconds(client, f"native-{round_}", batch))
    ufdl_s, native_s = statistics.median(ufdl), statistics.median(native)
    ratio = ufdl_s / native_s
    report(
        f"ufdl_{args.files}_files_and_zip_vs_native",
        {"ufdl_s": round(ufdl_s, 2), "native_s": round(native_s, 2)},
        ratio,
        f"<= {TARGET}",
        ratio <= TARGET,
    )


if __name__ == "__main__":
    main()
