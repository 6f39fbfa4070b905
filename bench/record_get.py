"""Requests per second for GET of a small record: dataloft vs a bare Starlette endpoint.

Both run under uvicorn with the same options (one process, uvloop and httptools, as
``dataloft serve`` runs); wrk drives each with the same connections and duration, in
alternating rounds with both servers up, so that load from elsewhere on the machine falls
on both alike. The ratio is the median of the rounds' ratios. dataloft serves a private
dataset, so every request also authenticates its Bearer token and checks access.

Run: ``.venv/bin/python bench/record_get.py [--rounds 5] [--seconds 4] [--connections 16]``
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess

from bare_app import DOCUMENT
from common import bare_server, dataloft_server, report_at_least

TARGET = 0.5


def wrk_rps(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
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
    args = parser.parse_args()

    with bare_server("/record") as bare_url, dataloft_server() as loft, loft.client() as client:
        client.post("/datasets", json={"name": "bench"}).raise_for_status()
        client.put("/datasets/admin/bench/records/r1", json=DOCUMENT).raise_for_status()
        loft_url = loft.api + "/datasets/admin/bench/records/r1"
        wrk_rps(bare_url, 2, args.connections, {})  # warm up
        wrk_rps(loft_url, 2, args.connections, loft.auth)
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(wrk_rps(bare_url, args.seconds, args.connections, {}))
            ours.append(wrk_rps(loft_url, args.seconds, args.connections, loft.auth))

    ratio = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    report_at_least(
        "record_get_vs_bare_starlette",
        {
            "dataloft_rps": round(statistics.median(ours)),
            "bare_starlette_rps": round(statistics.median(bare)),
            "rounds": args.rounds,
        },
        ratio,
        TARGET,
    )


if __name__ == "__main__":
    main()
