"""ASGI servers side by side, each against uvicorn with httptools and uvloop (what
``dataloft serve`` runs), under the same apps, in the same run:

- ``bare``: requests/s of the bare Starlette ``/record`` endpoint (bare_app.py), with wrk;
- ``record``: requests/s of dataloft's ``GET`` of a small record of a private dataset (token
  auth and access check, as record_get.py measures), with wrk;
- ``upload``: MB/s of a streamed upload of the payload (1 GiB) into dataloft (``curl -T``:
  received, hashed, written, committed), next to ``hashlib.sha256`` of the same bytes in
  this process, the hashing every upload has to do;
- ``download``: MB/s of downloading it again (``curl``), where a server that takes ASGI's
  ``http.response.pathsend`` sends the file itself.

Each figure comes with the server's CPU time (its processes' user + system) per request or
per GB: on a shared machine a server with more threads gets a larger share of the cores
and so more requests/s, while what a request costs it holds steadier.

The payload and every server's data directory are on ``/dev/shm`` (``--scratch``), so the
disk is out of it. Each round starts every server afresh, all at once (an idle server
costs nothing), and measures each figure of every server back to back, each round
beginning with the next server: drift in the machine's load then falls on all of them
alike. Each figure is the median of the rounds, and its ratio is over uvicorn+httptools'
median. Every server runs one worker process, no access log, and
imports dataloft through loft_app.py (``--switch-interval`` tries another
``sys.setswitchinterval`` than dataloft's own).

Run: ``.venv/bin/python bench/asgi_servers.py [--seconds 5] [--rounds 3] [--size-mib 1024]
[--servers granian,hypercorn] [--switch-interval 0.005]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bare_app import DOCUMENT
from common import (
    ADMIN_PASSWORD,
    BIN,
    Loft,
    admin_token,
    curl_seconds,
    free_port,
    make_file,
    peak_rss_mb,
    report,
    sha256_seconds,
    terminate,
    wait_for,
)
from record_get import wrk_rps

HERE = Path(__file__).parent
BASELINE = "uvicorn_httptools"

# (import string of the app, whether it names a factory, port) -> the server's command line
Command = Callable[[str, bool, int], list[str]]


def _uvicorn(http: str) -> Command:
    def command(app: str, factory: bool, port: int) -> list[str]:
        return [
            str(BIN / "uvicorn"),
            *(["--factory"] if factory else []),
            app,
            "--http",
            http,
            "--loop",
            "uvloop",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    return command


def _granian(app: str, factory: bool, port: int) -> list[str]:
    # One worker process, one Rust runtime thread (its defaults), uvloop as the others use.
    return [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--loop",
        "uvloop",
        "--port",
        str(port),
        "--log-level",
        "warning",  # and no access log: granian's default
        *(["--factory"] if factory else []),
        app,
    ]


def _hypercorn(app: str, factory: bool, port: int) -> list[str]:
    # hypercorn evaluates what follows the colon, so a factory is named as a call.
    return [
        str(BIN / "hypercorn"),
        "--worker-class",
        "uvloop",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",  # and no access log: hypercorn's default
        app + "()" if factory else app,
    ]


SERVERS: dict[str, Command] = {
    BASELINE: _uvicorn("httptools"),
    "uvicorn_h11": _uvicorn("h11"),
    "granian": _granian,
    "hypercorn": _hypercorn,
}


@contextlib.contextmanager
def serving(
    command: Command, app: str, factory: bool, ready_path: str, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run a server of ``app``; yield its URL and process once ``ready_path`` answers."""
    port = free_port()
    python_path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        command(app, factory, port),
        cwd=HERE,
        env={**os.environ, **env, "PYTHONPATH": python_path},
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + ready_path)
        yield url, process
    finally:
        terminate(process, timeout=15)  # granian's and hypercorn's workers end with them


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (granian serves from a worker process it spawns)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    return tree


def tree_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a server's processes, summed, in MB."""
    return sum(peak_rss_mb(process) for process in process_tree(pid))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a server's processes have used so far. On a shared machine
    this says more than throughput alone: it is what each request costs, however much of
    the two cores the server got meanwhile."""
    ticks = 0
    for process in process_tree(pid):
        fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: int
    connections: int
    payload: Path
    scratch: Path
    loft_env: dict[str, str]  # for every dataloft server, beside its data directory
    figures: dict[str, dict[str, list[float]]]  # figure -> server -> one value per round

    def add(self, figure: str, server: str, value: float) -> None:
        self.figures.setdefault(figure, {}).setdefault(server, []).append(value)

    def wrk(self, figure: str, server: str, pid: int, url: str, headers: dict[str, str]) -> None:
        """Requests/s of ``url`` with wrk, and the server's CPU time per request."""
        wrk_rps(url, 2, self.connections, headers)  # warm up
        cpu = tree_cpu_seconds(pid)
        rps = wrk_rps(url, self.seconds, self.connections, headers)
        cpu = tree_cpu_seconds(pid) - cpu
        self.add(f"{figure}_rps", server, rps)
        self.add(f"{figure}_cpu_us_per_request", server, cpu / (rps * self.seconds) * 1e6)

    def curl(self, figure: str, server: str, pid: int, *args: str) -> None:
        """MB/s of moving the payload with curl, and the server's CPU seconds per GB."""
        size = self.payload.stat().st_size
        cpu = tree_cpu_seconds(pid)
        seconds = curl_seconds(*args)
        cpu = tree_cpu_seconds(pid) - cpu
        self.add(f"{figure}_MBps", server, size / seconds / 1e6)
        self.add(f"{figure}_cpu_s_per_GB", server, cpu / size * 1e9)


def measure_bare(run: Run, names: list[str]) -> None:
    with contextlib.ExitStack() as stack:
        up = {
            n: stack.enter_context(serving(SERVERS[n], "bare_app:app", False, "/record", {}))
            for n in names
        }
        for name, (url, process) in up.items():
            run.wrk("bare", name, process.pid, url + "/record", {})


def start_loft(stack: contextlib.ExitStack, run: Run, name: str) -> Loft:
    """dataloft under server ``name`` (stopped, and its data removed, with ``stack``), with
    a private dataset holding one record."""
    data = Path(tempfile.mkdtemp(prefix=f"loft-{name}-", dir=run.scratch))
    stack.callback(shutil.rmtree, data, ignore_errors=True)
    env = {
        **run.loft_env,
        "DATALOFT_DATA_DIR": str(data),
        "DATALOFT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    url, process = stack.enter_context(
        serving(SERVERS[name], "loft_app:create", True, "/loft/v1/licences", env)
    )
    loft = Loft(url, admin_token(url), process, data)
    with loft.client() as client:
        client.post("/datasets", json={"name": "bench"}).raise_for_status()
        client.put("/datasets/admin/bench/records/r1", json=DOCUMENT).raise_for_status()
    return loft


def measure_loft(run: Run, names: list[str]) -> None:
    with contextlib.ExitStack() as stack:
        lofts = {name: start_loft(stack, run, name) for name in names}
        for name, loft in lofts.items():
            record = loft.api + "/datasets/admin/bench/records/r1"
            run.wrk("record", name, loft.process.pid, record, loft.auth)
        for what in ("upload", "download"):
            for name, loft in lofts.items():
                url = loft.api + "/datasets/admin/bench/files/x"
                how = ["-T", str(run.payload)] if what == "upload" else []
                auth = f"Authorization: Bearer {loft.token}"
                run.curl(what, name, loft.process.pid, *how, "-H", auth, url)
        for name, loft in lofts.items():
            run.add("peak_rss_MB", name, tree_peak_rss_mb(loft.process.pid))


def report_all(run: Run, size_mib: int) -> None:
    sha256 = statistics.median(run.figures["sha256_MBps"]["hashlib"])
    for figure, by_server in run.figures.items():
        if figure == "sha256_MBps":
            continue
        base = statistics.median(by_server[BASELINE])
        for name, values in by_server.items():
            if name == BASELINE:
                continue
            ours = statistics.median(values)
            figures: dict[str, float | str] = {
                name: float(f"{ours:.4g}"),
                BASELINE: float(f"{base:.4g}"),
                "rounds": len(values),
                **run.loft_env,
            }
            if figure == "upload_MBps":
                figures["hashlib_sha256"] = round(sha256, 1)
                figures["share_of_sha256"] = round(ours / sha256, 3)
                figures["baseline_share_of_sha256"] = round(base / sha256, 3)
            label = figure.replace("MBps", f"{size_mib}MiB_MBps")
            if figure == "peak_rss_MB" or "_cpu_" in figure:  # less is better: base over ours
                report(f"asgi_{label}_{name}", figures, base / ours, ">= 1.0", base >= ours)
            else:
                report(f"asgi_{label}_{name}", figures, ours / base, ">= 1.0", ours >= base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--scratch", type=Path, default=Path("/dev/shm"))
    parser.add_argument(
        "--servers",
        default=",".join(name for name in SERVERS if name != BASELINE),
        help=f"compared with {BASELINE}, which always runs",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="run dataloft with this sys.setswitchinterval instead of its own (loft_app.py)",
    )
    args = parser.parse_args()
    names = [BASELINE, *(n for n in args.servers.split(",") if n and n != BASELINE)]
    unknown = set(names) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")

    scratch = Path(tempfile.mkdtemp(prefix="asgi-bench-", dir=args.scratch))
    try:
        payload = make_file(scratch / "payload.bin", args.size_mib * 1024 * 1024)
        interval = args.switch_interval
        loft_env = {} if interval is None else {"BENCH_SWITCH_INTERVAL": str(interval)}
        run = Run(args.seconds, args.connections, payload, scratch, loft_env, {})
        size = payload.stat().st_size
        for round_ in range(args.rounds):
            run.add("sha256_MBps", "hashlib", size / sha256_seconds(payload) / 1e6)
            # Each round starts with the next server: none is always first (or last).
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            measure_bare(run, order)
            measure_loft(run, order)
        report_all(run, args.size_mib)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
