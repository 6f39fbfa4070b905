"""The Pigeon Optics record index of 10,000 records against a bare Starlette endpoint
returning the same bytes, precomputed.

Both run under uvicorn with the same options (one process). The index is fetched as JSON
without compression, as the baseline sends it: first repeatedly while it is unchanged
(the index at a version never changes, so it may cost little more than sending bytes),
then once after each one-record write (a new version: the index is built again). Each
series' median is compared with the baseline's median; targets ≤ 2 and ≤ 15.

Run: ``.venv/bin/python bench/pigeon_index.py [--records 10000] [--rounds 30]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import httpx

from common import ADMIN_PASSWORD, bare_server, bench_dir, dataloft_server, report_medians

UNCHANGED_TARGET = 2.0
AFTER_WRITE_TARGET = 15.0
HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


def get_seconds(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def bare_medians(body: bytes, rounds: int) -> list[float]:
    """Latencies of the bare endpoint serving ``body``."""
    with tempfile.NamedTemporaryFile(dir=bench_dir(), suffix=".json") as file:
        file.write(body)
        file.flush()
        with (
            bare_server("/body", BENCH_BARE_BODY=file.name) as url,
            httpx.Client(headers=HEADERS, timeout=60) as client,
        ):
            assert client.get(url).content == body
            for _ in range(5):  # warm up
                get_seconds(client, url)
            return [get_seconds(client, url) for _ in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with dataloft_server() as loft:
        admin = ("admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=loft.url, headers=HEADERS, timeout=600) as po:
            po.put("/datasets/create", json={"name": "index"}, auth=admin)
            records = {
                f"record-{n:05d}": {"n": n, "title": f"sign {n}"} for n in range(args.records)
            }
            po.post("/datasets/admin:index/records/", json=records, auth=admin).raise_for_status()
            url = "/datasets/admin:index/records/"
            body = po.get(url).content
            for _ in range(5):  # warm up
                get_seconds(po, url)
            unchanged = [get_seconds(po, url) for _ in range(args.rounds)]
            after_write = []
            for round_ in range(args.rounds):
                record = f"/datasets/admin:index/records/record-{round_:05d}"
                po.put(record, json={"n": -round_}, auth=admin).raise_for_status()
                after_write.append(get_seconds(po, url))
    bare = bare_medians(body, args.rounds)
    report_medians(
        "pigeon_index_unchanged_vs_bare_starlette",
        {"index_unchanged": unchanged, "bare_starlette": bare},
        UNCHANGED_TARGET,
    )
    report_medians(
        "pigeon_index_after_write_vs_bare_starlette",
        {"index_after_write": after_write, "bare_starlette": bare},
        AFTER_WRITE_TARGET,
    )


if __name__ == "__main__":
    main()
