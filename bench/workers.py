"""Requests per second for GET of a small record: ``dataloft serve --workers 2`` against
``--workers 1``, both on one fresh PostgreSQL database (made for the run, dropped after),
both serving the same private record to the same token, both up at once, measured in
alternating rounds so that load from elsewhere on the machine falls on both alike.

The load generator is ``wrk`` (C, one thread, keep-alive connections): a Python client
would need a core of its own to keep even one server process busy. On a 2-core machine
wrk's thread and PostgreSQL's backends share the two cores with the servers, so the ratio
says what a second process buys on *this* machine, not what it buys given cores to spare.
On PostgreSQL every request looks its token up (``token_cache_seconds`` is 0 by default,
and ``AnswerMemo`` keeps nothing there), so each request is also a database round trip.

One JSON line: req/s with one worker and with two (medians of the rounds), and the median
of the rounds' ratios (two over one), which the issue hopes is at least 1.6.

Run: ``.venv/bin/python bench/workers.py [--rounds 5] [--seconds 4] [--connections 32]``
(needs ``wrk`` and PostgreSQL at ``$DATALOFT_BENCH_POSTGRES_URL``, by default
``postgresql://postgres@127.0.0.1:5432/postgres``, allowed to create databases).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from bare_app import DOCUMENT
from common import (
    ADMIN_PASSWORD,
    BIN,
    admin_token,
    bench_dir,
    free_port,
    report_at_least,
    terminate,
    wait_for,
)
from record_get import wrk_rps

TARGET = 1.6
ADMIN_URL = os.environ.get(
    "DATALOFT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for the run; its SQLAlchemy URL. Dropped afterwards."""
    name = f"dataloft_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def serve(database_url: str, data_dir: Path, workers: int) -> Iterator[str]:
    """``dataloft serve --workers <workers>`` on the database; its URL once it answers."""
    port = free_port()
    environment = {
        **os.environ,
        "DATALOFT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DATALOFT_DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        [
            *(str(BIN / "dataloft"), "serve", "--port", str(port)),
            *("--data-dir", str(data_dir), "--workers", str(workers), "--no-access-log"),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/loft/v1/licences", timeout=60)
        yield url
    finally:
        terminate(process, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on the PATH (Debian: apt-get install wrk)")
    data_dir = Path(tempfile.mkdtemp(prefix="loft-workers-", dir=bench_dir()))
    try:
        with fresh_database() as database_url, contextlib.ExitStack() as stack:
            # One data directory, one database: the same data behind both servers. The
            # first server makes the schema and the admin account before the second starts.
            urls = {n: stack.enter_context(serve(database_url, data_dir, n)) for n in (1, 2)}
            token = admin_token(urls[1])
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=urls[1] + "/loft/v1", headers=auth) as client:
                client.post("/datasets", json={"name": "bench"}).raise_for_status()
                client.put("/datasets/admin/bench/records/r1", json=DOCUMENT).raise_for_status()
            path = "/loft/v1/datasets/admin/bench/records/r1"
            for url in urls.values():
                wrk_rps(url + path, 2, args.connections, auth)  # warm up every worker
            measured: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(args.rounds):
                for workers, url in urls.items():
                    rps = wrk_rps(url + path, args.seconds, args.connections, auth)
                    measured[workers].append(rps)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    ratio = statistics.median(two / one for one, two in zip(measured[1], measured[2], strict=True))
    figures: dict[str, float | str] = {
        "workers_1_rps": round(statistics.median(measured[1])),
        "workers_2_rps": round(statistics.median(measured[2])),
        "cores": os.cpu_count() or 0,
        "rounds": args.rounds,
    }
    report_at_least("record_get_workers_2_vs_1", figures, ratio, TARGET)


if __name__ == "__main__":
    main()
