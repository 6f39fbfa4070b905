"""``dataloft serve --workers 2`` on PostgreSQL: connections opened at once spread over
the workers (each worker listens on a socket of its own, ``cli/listeners.py``), and the
port stays the server's: a second server on it is refused."""

from __future__ import annotations

import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.support import ServedWorkers, postgres_database

pytestmark = pytest.mark.skipif(
    "postgresql" not in support.test_databases(), reason="several workers need PostgreSQL"
)

CONNECTIONS = 24


def _sockets(port: int) -> Iterator[tuple[int, str, int]]:
    """Each TCP socket on 127.0.0.1 whose local port is ``port``: its remote port (0 for a
    listening one), its state (``0A``: listening) and its inode (``/proc/net/tcp``, whose
    addresses are in hex)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            yield int(fields[2].split(":")[1], 16), fields[3], int(fields[9])


def _server_sockets(port: int) -> dict[int, int]:
    """The server's end of each connection to ``port``: its inode by the client's port."""
    return {remote: inode for remote, _, inode in _sockets(port) if remote != 0}


def _listening(port: int) -> set[int]:
    """The inodes of the sockets listening on ``port``."""
    return {inode for _, state, inode in _sockets(port) if state == "0A"}


def _owners(pids: list[int]) -> dict[int, int]:
    """Which of ``pids`` holds each socket, by inode."""
    owners = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = fd.readlink().name if fd.is_symlink() else ""
            if target.startswith("socket:["):
                owners[int(target[len("socket:[") : -1])] = pid
    return owners


def test_connections_opened_at_once_reach_every_worker(tmp_path: Path) -> None:
    """Each worker listens on a socket of its own. With one socket shared, the worker that
    woke first accepted every connection waiting (under wrk's load, all 32 on one of two
    workers in most runs; an idle server's workers both wake, so a test cannot count on
    seeing it); with a socket per worker the kernel spreads them, and 24 connections all
    on one of two workers would happen once in 8 million."""
    with postgres_database() as database_url:
        served = ServedWorkers(database_url, tmp_path).start()
        clients = []
        try:
            # All at once, as a proxy's pool or a load generator opens them: connecting
            # one after another left each worker time to wake and take its share.
            clients = [socket.socket() for _ in range(CONNECTIONS)]
            for client in clients:
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", served.port))
            for client in clients:
                select.select([], [client], [], 10)
                client.setblocking(True)
            request = b"GET /loft/v1/licences HTTP/1.1\r\nHost: test\r\n\r\n"
            for client in clients:
                client.sendall(request)
            for client in clients:  # answered: accepted by a worker, and still open
                assert client.recv(12).startswith(b"HTTP/1.1 200")
            workers = served.worker_pids()
            assert len(workers) == 2, served.output()
            owners = _owners(workers)
            listeners = {owners.get(inode) for inode in _listening(served.port)}
            assert listeners == set(workers)  # one each (the supervisor's does not listen)
            ends = _server_sockets(served.port)
            served_by = [owners[ends[client.getsockname()[1]]] for client in clients]
            assert set(served_by) == set(workers), {pid: served_by.count(pid) for pid in workers}
        finally:
            for client in clients:
                client.close()
            served.stop()


def test_a_second_server_on_the_port_is_refused(tmp_path: Path) -> None:
    """``SO_REUSEPORT`` would let it join the workers' group and take a share of their
    connections; it is refused instead, and the first one keeps serving."""
    with postgres_database() as database_url:
        served = ServedWorkers(database_url, tmp_path / "first").start()
        try:
            second = ServedWorkers(database_url, tmp_path / "second", port=served.port)
            ended = subprocess.run(
                second.command,
                check=False,
                env=second.environment,
                capture_output=True,
                timeout=120,
            )
            assert ended.returncode != 0
            said = (ended.stdout + ended.stderr).decode()
            assert f"cannot listen on 127.0.0.1:{served.port}" in said, said
            assert served.process is not None and served.process.poll() is None
            assert httpx.get(served.url + "/loft/v1/licences").status_code == 200
        finally:
            served.stop()
