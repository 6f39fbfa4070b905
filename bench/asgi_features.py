"""Does an ASGI server keep what dataloft relies on? The companion of asgi_servers.py: each
server runs dataloft (loft_app.py) inside ``Observed``, a plain ASGI middleware that watches
the messages between server and app, and this checks, for each server:

- ``streaming_upload``: a 256 MiB upload reaches the app as many small ``http.request``
  messages (not one body buffered by the server) and is stored whole;
- ``range``: ``Range: bytes=100-199`` answers 206 with exactly those bytes;
- ``pathsend``: the server offers ``http.response.pathsend``, so a whole-file download is
  sent by the server itself, outside Python (``sendfile_calls``: how many ``sendfile``
  system calls the server's processes made meanwhile; 0 means it copied the bytes
  through user space);
- ``sse_disconnect``: an SSE change feed (``/loft/v1/events``) whose client went away ends in
  the app within 3 s (not only at its next keep-alive write, 15 s later);
- ``graceful_shutdown``: on SIGTERM, an upload in flight (32 MiB sent at 4 MB/s, so 8 s,
  longer than hypercorn's default grace of 5 s) still completes with 201, and the app's
  lifespan shutdown runs;
- ``workers``: with two worker processes (on PostgreSQL, as ``--workers`` needs) requests
  on new connections are answered by both.

Prints one JSON line per server. Run: ``.venv/bin/python bench/asgi_features.py
[--servers granian,hypercorn]`` (needs PostgreSQL at 127.0.0.1:5432, user postgres).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import loft_app
from asgi_servers import BASELINE, SERVERS, Command, process_tree, serving
from common import ADMIN_PASSWORD, admin_token, make_file

OBSERVED = "/_bench/observed"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class Observed:
    """Counts what passes between the server and the app, and answers ``OBSERVED`` with it.
    On lifespan shutdown, writes the file ``BENCH_SHUTDOWN_MARKER`` names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: dict[str, Any] = {
            "pid": os.getpid(),
            "in_flight": 0,
            "body_messages": 0,
            "largest_body_message": 0,
            "pathsend_offered": False,
            "pathsends": 0,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] == "http" and scope["path"] == OBSERVED:
            body = json.dumps(self.seen).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        seen = self.seen
        seen["pathsend_offered"] = "http.response.pathsend" in scope.get("extensions", {})

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["body_messages"] += 1
                size = len(message.get("body", b""))
                seen["largest_body_message"] = max(seen["largest_body_message"], size)
            return message

        async def watched_send(message: Message) -> None:
            seen["pathsends"] += message["type"] == "http.response.pathsend"
            await send(message)

        seen["in_flight"] += 1
        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            seen["in_flight"] -= 1

    @staticmethod
    def _lifespan_send(send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            marker = os.environ.get("BENCH_SHUTDOWN_MARKER")
            if message["type"] == "lifespan.shutdown.complete" and marker:
                await anyio.Path(marker).touch()
            await send(message)

        return lifespan_send


def create() -> Observed:
    """dataloft (as loft_app.py builds it), observed."""
    return Observed(loft_app.create())


@contextlib.contextmanager
def observed_loft(
    command: Command, env: dict[str, str]
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    with serving(command, "asgi_features:create", True, "/loft/v1/licences", env) as (url, p):
        token = admin_token(url)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            client.post("/loft/v1/datasets", json={"name": "bench"}).raise_for_status()
            yield client, p


def observe(client: httpx.Client) -> dict[str, Any]:
    seen: dict[str, Any] = client.get(OBSERVED).raise_for_status().json()
    return seen


def curl(*args: str) -> str:
    """curl's status line (``%{http_code}``) for a request with Authorization etc. in args."""
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def check_transfers(client: httpx.Client, process: int, payload: Path) -> dict[str, Any]:
    files = str(client.base_url) + "/loft/v1/datasets/admin/bench/files/"
    auth = f"Authorization: {client.headers['authorization']}"
    status = curl("-T", str(payload), "-H", auth, files + "big.bin")
    seen = observe(client)
    messages, largest = seen["body_messages"], seen["largest_body_message"]
    found = client.get(files + "big.bin", headers={"Range": "bytes=100-199"})
    with payload.open("rb") as source:
        source.seek(100)
        expected = source.read(100)
    size = int(client.head(files + "big.bin").headers["content-length"])
    # The whole file, under strace: does the server's process call sendfile?
    trace = payload.parent / "strace.txt"
    attach = [arg for pid in process_tree(process) for arg in ("-p", str(pid))]
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace), *attach],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # strace attaches to every thread
    downloaded = curl("-H", auth, files + "big.bin")
    tracer.send_signal(signal.SIGINT)
    tracer.wait()
    sendfiles = trace.read_text().count("sendfile(") if trace.exists() else 0
    return {
        "streaming_upload": status == "201"
        and size == payload.stat().st_size
        and messages > 100
        and largest <= 1024 * 1024,
        "upload_body_messages": messages,
        "largest_body_message": largest,
        "range": found.status_code == 206 and found.content == expected,
        "pathsend": seen["pathsend_offered"]
        and downloaded == "200"
        and observe(client)["pathsends"] == 1,
        "sendfile_calls": sendfiles,
    }


def check_sse(client: httpx.Client) -> bool:
    """Open a change feed, leave it, and see whether the app's request ends soon."""
    url = str(client.base_url) + "/loft/v1/events"
    auth = f"Authorization: {client.headers['authorization']}"
    feed = subprocess.Popen(
        ["curl", "-sSN", "-H", auth, "-H", "Accept: text/event-stream", url],
        stdout=subprocess.PIPE,
    )
    assert feed.stdout is not None
    feed.stdout.readline()  # ": connected": the feed is open
    open_now = observe(client)["in_flight"]  # the feed (OBSERVED does not count itself)
    if open_now < 1:
        raise RuntimeError("the change feed is not in flight")
    feed.kill()
    feed.wait()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if observe(client)["in_flight"] == open_now - 1:
            return True
        time.sleep(0.2)
    return False


def check_shutdown(command: Command, env: dict[str, str], payload: Path) -> bool:
    """SIGTERM during a slow upload: the upload must finish, then the lifespan shutdown."""
    marker = payload.parent / "shutdown-marker"
    env = {**env, "BENCH_SHUTDOWN_MARKER": str(marker)}
    with observed_loft(command, env) as (client, process):
        files = str(client.base_url) + "/loft/v1/datasets/admin/bench/files/"
        auth = f"Authorization: {client.headers['authorization']}"
        upload = subprocess.Popen(
            [
                *("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--limit-rate", "4M"),
                *("-H", auth, "-T", str(payload), files + "slow.bin"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        process.terminate()
        status = upload.communicate()[0]
        process.wait(timeout=30)
    return status == "201" and marker.exists()


def check_workers(command: Command, env: dict[str, str]) -> bool:
    name = f"loft_asgi_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1/{name}"
        database = {**env, "DATALOFT_DATABASE_URL": url}
        # One process first creates the schema and the admin, as `dataloft serve` does
        # before it starts workers (they would race to).
        with serving(command, "asgi_features:create", True, OBSERVED, database):
            pass
        pids = set()
        with serving(workers(command), "asgi_features:create", True, OBSERVED, database) as (
            url,
            _,
        ):
            for _ in range(50):
                with httpx.Client() as client:  # a new connection each time
                    pids.add(client.get(url + OBSERVED).json()["pid"])
        return len(pids) == 2
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def workers(command: Command) -> Command:
    """The same server with two worker processes (each option's spelling is the same in
    uvicorn, granian and hypercorn)."""

    def with_workers(app: str, factory: bool, port: int) -> list[str]:
        line = command(app, factory, port)
        return [line[0], "--workers", "2", *line[1:]]

    return with_workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scratch", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args()
    for name in args.servers.split(","):
        command = SERVERS[name]
        scratch = Path(tempfile.mkdtemp(prefix=f"asgi-features-{name}-", dir=args.scratch))
        try:
            payload = make_file(scratch / "payload.bin", 256 * 1024 * 1024)
            slow = make_file(scratch / "slow.bin", 32 * 1024 * 1024)  # 8 s at 4 MB/s
            env = {
                "DATALOFT_DATA_DIR": str(scratch / "data"),
                "DATALOFT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            }
            with observed_loft(command, env) as (client, process):
                result: dict[str, Any] = {"server": name, "baseline": name == BASELINE}
                result |= check_transfers(client, process.pid, payload)
                result["sse_disconnect"] = check_sse(client)
            shutil.rmtree(scratch / "data")
            result["graceful_shutdown"] = check_shutdown(command, env, slow)
            shutil.rmtree(scratch / "data")
            result["workers"] = check_workers(command, env)
            print(json.dumps(result))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
