"""Requests per second for GET of a small record: dataloft vs a bare Starlette endpoint.

Both run under uvicorn with the same options (one process, default loop and HTTP parser);
wrk drives each with the same connections and duration. dataloft serves a private dataset,
so every request also authenticates its Bearer token and checks access.

Run: ``.venv/bin/python bench/record_get.py [--seconds 10] [--connections 16]``
"""

from __future__ import annotations

import argparse
import re
import subprocess

from bare_app import DOCUMENT
from common import bare_server, dataloft_server, report_at_least

TARGET = 0.25


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
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    with bare_server("/record") as url:
        wrk_rps(url, 2, args.connections, {})  # warm up
        bare_rps = wrk_rps(url, args.seconds, args.connections, {})

    with dataloft_server() as loft, loft.client() as client:
        client.post("/datasets", json={"name": "bench"}).raise_for_status()
        client.put("/datasets/admin/bench/records/r1", json=DOCUMENT).raise_for_status()
        url = loft.api + "/datasets/admin/bench/records/r1"
        wrk_rps(url, 2, args.connections, loft.auth)  # warm up
        loft_rps = wrk_rps(url, args.seconds, args.connections, loft.auth)

    ratio = loft_rps / bare_rps
    report_at_least(
        "record_get_vs_bare_starlette",
        {"dataloft_rps": round(loft_rps), "bare_starlette_rps": round(bare_rps)},
        ratio,
        TARGET,
    )


if __name__ == "__main__":
    main()
