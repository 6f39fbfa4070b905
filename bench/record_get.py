"""Requests per second for GET of a small record: dataloft vs a bare Starlette endpoint.

Both run under uvicorn with the same options (one process, uvloop and httptools, as
``dataloft serve`` runs); wrk drives each with the same connections and duration, in
alternating rounds with both servers up, so that load from elsewhere on the machine falls
on both alike. The ratio is the median of the rounds' ratios. dataloft serves a private
dataset, so every request also authenticates its Bearer token and checks access.

Two figures:

- ``record_get``: the same record again and again (the issue's figure, target ≥ 0.5): after
  the first request dataloft answers it from ``AnswerMemo`` (``api/memo.py``) until
  something is committed;
- ``record_get_distinct``: each request a different one of ``--records`` records (5,000,
  more than ``AnswerMemo`` and ``RowMemory`` keep), in turn, so that every request takes
  the whole way: token, access check, entry lookup, rendering. Reported beside the first,
  with no target: what a read the memory cannot help costs.

Run: ``.venv/bin/python bench/record_get.py [--rounds 5] [--seconds 4] [--connections 16]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bare_app import DOCUMENT
from common import (
    ADMIN_PASSWORD,
    Loft,
    bare_server,
    bench_dir,
    dataloft_server,
    report,
    report_at_least,
)

TARGET = 0.5


# Each request the next of the records named record-00000, record-00001, ... in turn.
DISTINCT_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("%s/record-%05d", os.getenv("RECORDS_PATH"), n % COUNT))
end
"""


def wrk_rps(
    url: str, seconds: int, connections: int, headers: dict[str, str], script: Path | None = None
) -> float:
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if script is not None:
        args += ["-s", str(script)]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    environment = {**os.environ, "RECORDS_PATH": urlsplit(url).path}
    output = subprocess.run(
        args, check=True, capture_output=True, text=True, env=environment
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"errors during the run:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError(output)
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    script = bench_dir() / "distinct-records.lua"
    script.write_text(DISTINCT_SCRIPT.replace("COUNT", str(args.records)))

    with bare_server("/record") as bare_url, dataloft_server() as loft, loft.client() as client:
        client.post("/datasets", json={"name": "bench"}).raise_for_status()
        client.put("/datasets/admin/bench/records/r1", json=DOCUMENT).raise_for_status()
        write_distinct(loft, args.records)
        urls = {
            "same": loft.api + "/datasets/admin/bench/records/r1",
            "distinct": loft.api + "/datasets/admin/distinct/records",
        }
        scripts = {"same": None, "distinct": script}
        wrk_rps(bare_url, 2, args.connections, {})  # warm up
        for kind, url in urls.items():
            wrk_rps(url, 2, args.connections, loft.auth, scripts[kind])
        bare: list[float] = []
        ours: dict[str, list[float]] = {kind: [] for kind in urls}
        for _ in range(args.rounds):
            bare.append(wrk_rps(bare_url, args.seconds, args.connections, {}))
            for kind, url in urls.items():
                rps = wrk_rps(url, args.seconds, args.connections, loft.auth, scripts[kind])
                ours[kind].append(rps)

    for kind, name in (("same", "record_get"), ("distinct", "record_get_distinct")):
        ratio = statistics.median(o / b for o, b in zip(ours[kind], bare, strict=True))
        figures = {
            "dataloft_rps": round(statistics.median(ours[kind])),
            "bare_starlette_rps": round(statistics.median(bare)),
            "rounds": args.rounds,
        }
        if kind == "same":
            report_at_least(f"{name}_vs_bare_starlette", figures, ratio, TARGET)
        else:
            report(f"{name}_vs_bare_starlette", figures, ratio, "none (reported)", True)


def write_distinct(loft: Loft, count: int) -> None:
    """A private dataset ``distinct`` of ``count`` small records, in one Pigeon Optics bulk
    write (the same core serves the native API)."""
    auth = ("admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=loft.url, auth=auth, timeout=120) as pigeon:
        made = pigeon.put("/datasets/create", json={"name": "distinct"})
        assert made.status_code == 303, made.text
        records = {f"record-{n:05d}": {**DOCUMENT, "n": n} for n in range(count)}
        written = pigeon.post("/datasets/admin:distinct/records/", json=records)
        assert written.status_code == 204, written.text
    with loft.client() as native:  # Pigeon Optics makes datasets public
        native.patch("/datasets/admin/distinct", json={"visibility": "private"}).raise_for_status()


if __name__ == "__main__":
    main()
