"""A Pigeon Optics bulk write of 10,000 records of about 200 bytes against a baseline that
does only the irreducible work.

dataloft runs as ``dataloft serve`` on the embedded default (SQLite + local files) in its
own process; each round creates a dataset and writes every record into it with one
``POST /datasets/<a>:<n>/records/`` (JSON), so every record is new. The baseline, in this
process and the same run, encodes each value with the project's own canonical encoder,
hashes it with sha256 and inserts one row per record (dataset, space, path, kind, since,
digest, size, media type, the value's bytes) in one SQLite transaction in a temporary
file with one ``executemany``. Records per second are compared by the rounds' medians;
target ≥ 0.2 of the baseline.

Run: ``.venv/bin/python bench/pigeon_bulk.py [--records 10000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import statistics
import tempfile
import time
from typing import Any

import httpx

from common import ADMIN_PASSWORD, bench_dir, dataloft_server, report_at_least
from dataloft.core.cbor import encode_record

TARGET = 0.2
BASELINE_SCHEMA = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL, space TEXT NOT NULL,
    path TEXT NOT NULL, kind TEXT NOT NULL, since INTEGER NOT NULL, until INTEGER,
    digest TEXT, size INTEGER NOT NULL, media_type TEXT NOT NULL, data BLOB
)
"""


def make_records(count: int, round_: int) -> dict[str, Any]:
    """``count`` records of about 200 bytes of JSON each, different in every round."""
    filler = "lorem ipsum dolor sit amet " * 5
    return {
        f"record-{n:05d}": {"n": n, "round": round_, "title": f"sign {n}", "text": filler}
        for n in range(count)
    }


def bulk_seconds(client: httpx.Client, dataset: str, records: dict[str, Any]) -> float:
    created = client.put("/datasets/create", json={"name": dataset})
    assert created.status_code == 303, created.text  # redirects to the new dataset
    started = time.perf_counter()
    response = client.post(f"/datasets/admin:{dataset}/records/", json=records)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def baseline_seconds(records: dict[str, Any]) -> float:
    """Canonical encoding and sha256 of each value, one transaction, one executemany."""
    with tempfile.NamedTemporaryFile(dir=bench_dir(), suffix=".sqlite") as file:
        connection = sqlite3.connect(file.name)
        connection.execute(BASELINE_SCHEMA)
        connection.commit()
        started = time.perf_counter()
        rows = []
        for key, value in records.items():
            encoded = encode_record(value)
            digest = hashlib.sha256(encoded).hexdigest()
            rows.append(
                (1, "r", key, "record", 1, digest, len(encoded), "application/cbor", encoded)
            )
        with connection:
            connection.executemany(
                "INSERT INTO entries (dataset_id, space, path, kind, since, digest, size,"
                " media_type, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ours = []
    baseline = []
    with (
        dataloft_server() as loft,
        httpx.Client(base_url=loft.url, auth=("admin", ADMIN_PASSWORD), timeout=600) as po,
    ):
        bulk_seconds(po, "warm-up", make_records(args.records, -1))
        for round_ in range(args.rounds):
            records = make_records(args.records, round_)
            ours.append(bulk_seconds(po, f"bulk-{round_}", records))
            baseline.append(baseline_seconds(records))
    ours_rate = args.records / statistics.median(ours)
    base_rate = args.records / statistics.median(baseline)
    ratio = ours_rate / base_rate
    report_at_least(
        f"pigeon_bulk_write_{args.records}_records_vs_executemany",
        {"dataloft_records_per_s": round(ours_rate), "baseline_records_per_s": round(base_rate)},
        ratio,
        TARGET,
    )


if __name__ == "__main__":
    main()
