"""Does a commit cost the same on a dataset with 100,000 entries as on one with 10?

Both datasets live on one server. Each gets the same stream of one-file commits (PUT of a
small new file), interleaved so that drift affects both alike; the ratio compares median
commit latencies, big over small.

Run: ``.venv/bin/python bench/commit_scaling.py [--entries 100000] [--commits 200]``
"""

from __future__ import annotations

import argparse
import time

import httpx

from common import dataloft_server, report_medians

TARGET = 2.0
BATCH = 10_000


def seed(client: httpx.Client, dataset: str, entries: int) -> None:
    """Fill a dataset with ``entries`` records, in commits of up to 10,000."""
    for start in range(0, entries, BATCH):
        changes = [
            {"op": "put_record", "id": f"r{i:07d}", "value": {"i": i, "text": f"value {i}"}}
            for i in range(start, min(start + BATCH, entries))
        ]
        response = client.post(f"/datasets/admin/{dataset}/commits", json={"changes": changes})
        response.raise_for_status()


def commit_seconds(client: httpx.Client, dataset: str, index: int) -> float:
    started = time.perf_counter()
    response = client.put(
        f"/datasets/admin/{dataset}/files/new/{index}.txt", content=b"x%d" % index
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    with dataloft_server() as loft, loft.client() as client:
        for name in ("big", "small"):
            client.post("/datasets", json={"name": name}).raise_for_status()
        seed(client, "big", args.entries)
        seed(client, "small", 10)
        big_total = client.get("/datasets/admin/big").json()["record_count"]
        assert big_total == args.entries, big_total
        for index in range(20):  # warm up both
            commit_seconds(client, "big", -index - 1)
            commit_seconds(client, "small", -index - 1)
        big, small = [], []
        for index in range(args.commits):
            big.append(commit_seconds(client, "big", index))
            small.append(commit_seconds(client, "small", index))
    report_medians("commit_100k_vs_10_entries", {"big": big, "small": small}, TARGET)


if __name__ == "__main__":
    main()
