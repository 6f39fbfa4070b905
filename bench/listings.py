"""Large listings with and without gzip: the bytes on the wire and what they cost in time.

One dataset of 10,000 records and 10,000 files (half in a folder) is listed through every
dialect: the Pigeon Optics dataset page (which embeds the record index), its flat-file
export (streamed), a native page of 1,000 files and an Algorithmia page of 1,000 files.
Each is fetched ``--rounds`` times with ``Accept-Encoding: identity`` (the baseline, in the
same run) and with ``gzip`` (httpx decoding it, as clients do). Per listing one line: the
ratio of the gzip bytes on the wire to the identity bytes (target ≤ 0.5: a record's
sha256, 64 hex digits of noise, does not shrink below half), with the median latency of
each over loopback, where bandwidth costs nothing and gzip can only cost time (on a real
network the fewer bytes are the point).

Run: ``.venv/bin/python bench/listings.py [--records 10000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from typing import Any

import httpx

from common import ADMIN_PASSWORD, dataloft_server, report

BYTES_TARGET = 0.5
BATCH = 5_000
CODINGS = {"identity": "identity", "gzip": "gzip"}


def seed(loft_client: httpx.Client, po: httpx.Client, records: int) -> None:
    assert po.put("/datasets/create", json={"name": "listed"}).status_code == 303
    for start in range(0, records, BATCH):
        body = {
            f"record-{n:05d}": {"n": n, "title": f"sign {n}", "tags": ["street", "north"]}
            for n in range(start, min(start + BATCH, records))
        }
        po.post("/datasets/admin:listed/records/", json=body).raise_for_status()
    content = b"listed file"
    digest = hashlib.sha256(content).hexdigest()
    loft_client.put(f"/blobs/{digest}", content=content).raise_for_status()
    paths = [f"{'folder/' if n % 2 else ''}file-{n:05d}.txt" for n in range(records)]
    for start in range(0, len(paths), BATCH):
        changes = [
            {"op": "put_file", "path": path, "sha256": digest}
            for path in paths[start : start + BATCH]
        ]
        made = loft_client.post("/datasets/admin/listed/commits", json={"changes": changes})
        made.raise_for_status()


def fetch(client: httpx.Client, url: str, coding: str) -> tuple[float, int, int]:
    """Seconds, bytes on the wire, bytes decoded."""
    started = time.perf_counter()
    with client.stream("GET", url, headers={"Accept-Encoding": coding}) as response:
        response.raise_for_status()
        size = len(response.read())
        wire = response.num_bytes_downloaded
    return time.perf_counter() - started, wire, size


def measure(client: httpx.Client, url: str, rounds: int) -> dict[str, Any]:
    for coding in CODINGS:  # warm up (and the first GET of an index builds it)
        for _ in range(3):
            fetch(client, url, coding)
    seconds: dict[str, list[float]] = {coding: [] for coding in CODINGS}
    wire: dict[str, int] = {}
    for _ in range(rounds):
        for coding in CODINGS:  # interleaved: both see the same machine
            elapsed, wire[coding], decoded = fetch(client, url, coding)
            seconds[coding].append(elapsed)
    figures: dict[str, Any] = {"decoded_bytes": decoded}
    for coding in CODINGS:
        figures[f"{coding}_wire_bytes"] = wire[coding]
        figures[f"{coding}_median_ms"] = round(statistics.median(seconds[coding]) * 1000, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with dataloft_server() as loft:
        admin = ("admin", ADMIN_PASSWORD)
        json_accept = {"Accept": "application/json"}
        with (
            loft.client() as native,
            httpx.Client(base_url=loft.url, auth=admin, headers=json_accept, timeout=600) as po,
            httpx.Client(
                base_url=loft.url, headers={"Authorization": f"Simple {loft.token}"}, timeout=600
            ) as algo,
        ):
            seed(native, po, args.records)
            listings = {
                "pigeon_dataset_page": (po, "/datasets/admin:listed/"),
                "pigeon_flat_file_export": (po, "/datasets/admin:listed/export/flat-file.json"),
                "native_files_page": (native, "/datasets/admin/listed/files?limit=1000"),
                "algorithmia_folder_page": (algo, "/v1/data/admin/listed/folder"),
            }
            for name, (client, url) in listings.items():
                figures = measure(client, url, args.rounds)
                ratio = figures["gzip_wire_bytes"] / figures["identity_wire_bytes"]
                ok = ratio <= BYTES_TARGET
                target = f"<= {BYTES_TARGET}"
                report(f"listing_{name}_gzip_vs_identity_bytes", figures, ratio, target, ok)


if __name__ == "__main__":
    main()
