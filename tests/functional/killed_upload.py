"""A tus client that dies in the middle of a PATCH, for ``test_uploads.py``: run as
``python -m tests.functional.killed_upload URL TOKEN SEED TOTAL STOP``, it streams the
``TOTAL`` bytes of ``pattern(SEED)`` to the upload at ``URL`` (offset 0) over a plain
socket, and SIGKILLs itself once it has handed ``STOP`` bytes to the kernel: no goodbye,
no closing of the request, as when a laptop's lid shuts or a process is killed.

The bytes are the same 1 MiB block over and over (``pattern``): cheap to make in two
processes, and the same in both.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
from urllib.parse import urlsplit

BLOCK = 1024 * 1024


def pattern(seed: str) -> bytes:
    """The block an upload of ``seed`` repeats."""
    return random.Random(seed).randbytes(BLOCK)


def main(url: str, token: str, seed: str, total: int, stop: int) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    block = pattern(seed)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Tus-Resumable: 1.0.0\r\n"
        "Upload-Offset: 0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {total}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode())
        sent = 0
        while sent < total:
            piece = block[: min(BLOCK, total - sent)]
            sock.sendall(piece)  # returns once the kernel has it: the server reads on
            sent += len(piece)
            if sent >= stop:
                os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
