"""The listening sockets of ``dataloft serve --workers N``: on Linux, one per worker, all
bound to the one port with ``SO_REUSEPORT``.

uvicorn's own way is one listening socket that every worker accepts from. A new connection
then goes to whichever worker's event loop wakes first, and that worker accepts every
connection waiting: a client that opens its keep-alive connections at once (a proxy's
pool, a load generator) finds most or all of them on one worker while the others idle
(measured with wrk: 32 of 32 connections on one of two workers in most runs, and two
workers serving no more than one). With a listening socket of its own in each worker,
the kernel spreads new connections over them by a hash of their addresses.

The supervisor holds the port with a socket bound but not listening (the kernel hands
connections only to listening sockets), so that the port is taken, and known when port 0
was asked for, before any worker starts. What uvicorn hands each worker it starts (or
restarts) is a ``WorkerListener``: pickled into the worker, it unpickles there as a new
socket of that worker's own, bound to the port and listening. The price: connections the
kernel queued on a worker's socket but the worker had not accepted are reset if that
worker dies, where a shared socket would have left them to the others.

``SO_REUSEPORT`` would also let another server of the same user join the group unnoticed,
so the port is first bound the ordinary way, which fails, as a second ``dataloft serve``
on the port should, when anything listens there.

Elsewhere (macOS and the BSDs do not spread connections over such a group) the workers
share one socket, as uvicorn does it.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

SPREADS_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bound(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port``, not yet listening (``OSError`` if the port is
    taken). ``SO_REUSEADDR`` as uvicorn sets it, so that connections of an earlier run
    still in TIME_WAIT do not hold the port."""
    sock = socket.socket(family_of(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """The supervisor's hold on the port for its workers' ``SO_REUSEPORT`` group: bound,
    never listening. ``OSError`` if anything else has the port."""
    with bound(host, port, reuse_port=False) as probe:
        port = probe.getsockname()[1]  # the one chosen, when port 0 was asked for
    return bound(host, port, reuse_port=True)


def listening(host: str, port: int, backlog: int) -> socket.socket:
    """A worker's own listening socket in the group (run in the worker, as it unpickles
    its ``WorkerListener``)."""
    sock = bound(host, port, reuse_port=True)
    sock.listen(backlog)
    return sock


class WorkerListener:
    """Stands for a listening socket in what uvicorn hands a worker: unpickled in the
    worker, it is one, made there (``listening``)."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return listening, (self.host, self.port, self.backlog)
