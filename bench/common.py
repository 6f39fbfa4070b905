"""Shared plumbing for the benchmarks: servers as subprocesses, timing, peak memory.

Every benchmark measures dataloft and its baseline side by side in the same run, on the same
machine and disk, and reports a ratio; absolute numbers vary between machines, ratios less.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_PASSWORD = "bench-admin-password"
BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


@dataclass
class Loft:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def api(self) -> str:
        return self.url + "/loft/v1"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, headers=self.auth, timeout=600)


@contextlib.contextmanager
def dataloft_server(parent: Path | None = None, **env: str) -> Iterator[Loft]:
    """``dataloft serve`` on the default embedded setup (SQLite + local files), with its
    data directory made afresh under ``parent`` (default: ``bench_dir()``) and removed
    afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="loft-bench-", dir=parent or bench_dir()))
    port = free_port()
    environment = {**os.environ, "DATALOFT_ADMIN_PASSWORD": ADMIN_PASSWORD, **env}
    process = subprocess.Popen(
        [
            str(BIN / "dataloft"),
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(directory),
            "--no-access-log",  # as the baselines run: measure serving, not logging
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/loft/v1/licences")
        yield Loft(url, admin_token(url), process, directory)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def admin_token(url: str) -> str:
    """A token of the admin account a benchmark's server created, served at ``url``."""
    answer = httpx.post(
        url + "/loft/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    token: str = answer.raise_for_status().json()["token"]
    return token


@contextlib.contextmanager
def bare_server(path: str, **env: str) -> Iterator[str]:
    """``bare_app.py`` under uvicorn with the options dataloft's server uses; yields the
    URL of ``path`` once it answers."""
    port = free_port()
    bare = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=Path(__file__).parent,
        env={**os.environ, **env},
    )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wait_for(url)
        yield url
    finally:
        bare.kill()
        bare.wait()


@contextlib.contextmanager
def nginx_server(root: Path) -> Iterator[str]:
    """nginx serving ``root`` with sendfile, as a baseline for downloads."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    work = Path(tempfile.mkdtemp(prefix="nginx-bench-", dir=bench_dir()))
    port = free_port()
    config = work / "nginx.conf"
    config.write_text(
        f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""
    )
    process = subprocess.Popen([nginx, "-c", str(config), "-p", str(work)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/")
        yield url
    finally:
        # nginx's master stops its workers too (SIGKILL would orphan them, and they would
        # hold the listening socket and this script's output open).
        terminate(process, timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a server with SIGTERM, so that it stops the processes it started; SIGKILL
    only if it has not ended after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench_dir() -> Path:
    """Scratch space on the disk the benchmarks measure (override with BENCH_DIR)."""
    path = Path(os.environ.get("BENCH_DIR", Path(__file__).parent / "results" / "scratch"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_file(path: Path, size: int) -> Path:
    """A file of incompressible bytes (so no layer can cheat by compressing)."""
    if path.exists() and path.stat().st_size == size:
        return path
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            out.write(piece)
            written += len(piece)
            block = block[1:] + block[:1]  # vary the blocks a little
    return path


def curl_seconds(*args: str) -> float:
    """Wall time of one curl run (curl is the client for both sides of a comparison)."""
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", *args], check=True)
    return time.perf_counter() - started


def report(
    name: str, figures: Mapping[str, float | str], ratio: float, target: str, ok: bool
) -> None:
    line = {"benchmark": name, **figures, "ratio": round(ratio, 3), "target": target, "ok": ok}
    print(json.dumps(line))
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "latest.jsonl").open("a") as log:
        log.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **line}) + "\n")


def report_at_least(
    name: str, figures: Mapping[str, float | str], ratio: float, target: float
) -> None:
    """Report a ratio that must be at least ``target`` (ours over the baseline's speed)."""
    report(name, figures, ratio, f">= {target}", ratio >= target)


def report_medians(name: str, measured: dict[str, list[float]], target: float) -> None:
    """Report two series of latencies (seconds) by their medians, and the ratio of the
    first series' median over the second's, which must be at most ``target``."""
    (label, series), (base_label, base_series) = measured.items()
    median_ms = statistics.median(series) * 1000
    base_ms = statistics.median(base_series) * 1000
    figures: dict[str, float | str] = {
        f"{label}_median_ms": round(median_ms, 2),
        f"{base_label}_median_ms": round(base_ms, 2),
    }
    ratio = median_ms / base_ms
    report(name, figures, ratio, f"<= {target}", ratio <= target)


# --- big transfers against hashing, dd and nginx ----------------------------------------------
#
# An upload is bound by the CPU (receiving, hashing and writing the body in one Python
# process) or by the disk, whichever is slower; so it is measured twice: with the data
# directory on tmpfs, where only the CPU path counts, against hashlib's sha256 of the same
# bytes; and on the benchmarks' disk against the slower of that sha256 and ``dd ...
# conv=fdatasync``. The payload itself lives on tmpfs, so reading it costs every side the
# same (next to nothing).


def tmpfs_dir() -> Path:
    """Scratch space in memory (override with BENCH_TMPFS)."""
    path = Path(os.environ.get("BENCH_TMPFS", "/dev/shm")) / "dataloft-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Payload:
    """A large file of incompressible bytes on tmpfs."""

    path: Path
    size: int
    runs: int

    @property
    def mib(self) -> int:
        return self.size // (1024 * 1024)


def payload_from_arguments(description: str | None) -> Payload:
    """``--size-mib`` (default 1024) and ``--runs`` (default 3) from the command line. The
    payload is kept in ``tmpfs_dir()`` for the next run (delete it to free the memory)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    path = make_file(tmpfs_dir() / f"payload-{args.size_mib}MiB.bin", size)
    return Payload(path, size, args.runs)


def sha256_seconds(source: Path) -> float:
    """hashlib's sha256 of the file, read as a reader would, 1 MiB at a time."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with source.open("rb", buffering=0) as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return time.perf_counter() - started


def write_through_seconds(source: Path, directory: Path) -> float:
    """The irreducible work of an upload, in Python: read the payload 1 MiB at a time,
    hash it and write it to a new file in ``directory``, fsync, then delete the file (as
    the server deletes a staged copy of bytes it already holds). Not a target's baseline:
    on a virtual machine that hands freed memory back to its host, writing into fresh
    tmpfs pages can cost more than hashing, and this shows how much on the day."""
    target = directory / "write-through.bin"
    started = time.perf_counter()
    digest = hashlib.sha256()
    with source.open("rb", buffering=0) as reader, target.open("wb", buffering=0) as writer:
        while chunk := reader.read(1024 * 1024):
            digest.update(chunk)
            writer.write(chunk)
        os.fsync(writer.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def dd_seconds(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync", "status=none"],
        check=True,
    )
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


@dataclass(frozen=True)
class TransferTargets:
    upload_tmpfs: float  # at least this fraction of sha256's speed, data directory on tmpfs
    upload_disk: float  # at least this fraction of min(dd, sha256), data directory on disk
    download: float  # at least this fraction of nginx's speed
    rss_mb: float  # the server's peak memory stays under this


# The targets of issue 11, for every large transfer.
TRANSFER_TARGETS = TransferTargets(upload_tmpfs=0.5, upload_disk=0.6, download=0.8, rss_mb=150)

# Given a running server (after any setup it needs), the upload and the download of the
# payload, each moving it once and returning the seconds it took.
Moves = Callable[[Loft], tuple[Callable[[], float], Callable[[], float]]]


def measure_transfer(name: str, payload: Payload, moves: Moves, targets: TransferTargets) -> None:
    """In one run: sha256 of the payload and ``dd ... conv=fdatasync`` to the disk (the
    baselines); uploads into a server on tmpfs and into one on disk; downloads from the
    latter against nginx (sendfile) serving the payload; and the servers' peak RSS. Each
    figure is the best of ``payload.runs``, and each round measures every upload next to
    its baseline, so that load from elsewhere on the machine weighs on both alike."""

    def mbps(seconds: float) -> float:
        return round(payload.size / seconds / 1e6, 1)

    timings: dict[str, list[float]] = {}

    def timed(what: str, measure: Callable[[], float]) -> None:
        timings.setdefault(what, []).append(measure())

    with dataloft_server(tmpfs_dir()) as in_memory, dataloft_server() as on_disk:
        tmpfs_upload_once, _ = moves(in_memory)
        disk_upload_once, download_once = moves(on_disk)
        for _ in range(payload.runs):
            timed("sha256", lambda: sha256_seconds(payload.path))
            timed("tmpfs_upload", tmpfs_upload_once)
            timed("write_through", lambda: write_through_seconds(payload.path, tmpfs_dir()))
            timed("dd", lambda: dd_seconds(payload.path, bench_dir() / "dd-target.bin"))
            timed("disk_upload", disk_upload_once)
        with nginx_server(payload.path.parent) as nginx:
            for _ in range(payload.runs):
                timed("nginx", lambda: curl_seconds(f"{nginx}/{payload.path.name}"))
                timed("download", download_once)
        rss = max(peak_rss_mb(in_memory.process.pid), peak_rss_mb(on_disk.process.pid))
    best = {what: min(seconds) for what, seconds in timings.items()}
    sha256, dd, tmpfs_upload, disk_upload = (
        best[what] for what in ("sha256", "dd", "tmpfs_upload", "disk_upload")
    )
    ng, down = best["nginx"], best["download"]
    # Seconds: the baseline's over ours is our share of its speed.
    report_at_least(
        f"{name}_upload_tmpfs_{payload.mib}MiB_vs_sha256",
        {
            "dataloft_MBps": mbps(tmpfs_upload),
            "sha256_MBps": mbps(sha256),
            "hash_and_write_MBps": mbps(best["write_through"]),
        },
        sha256 / tmpfs_upload,
        targets.upload_tmpfs,
    )
    report_at_least(
        f"{name}_upload_disk_{payload.mib}MiB_vs_min_dd_sha256",
        {"dataloft_MBps": mbps(disk_upload), "dd_MBps": mbps(dd), "sha256_MBps": mbps(sha256)},
        max(dd, sha256) / disk_upload,
        targets.upload_disk,
    )
    report_at_least(
        f"{name}_download_{payload.mib}MiB_vs_nginx",
        {"dataloft_MBps": mbps(down), "nginx_MBps": mbps(ng)},
        ng / down,
        targets.download,
    )
    report(
        f"{name}_peak_rss_{payload.mib}MiB",
        {"peak_rss_MB": round(rss, 1)},
        rss,
        f"< {targets.rss_mb} MB",
        rss < targets.rss_mb,
    )
