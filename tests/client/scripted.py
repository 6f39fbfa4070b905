"""A real HTTP server on 127.0.0.1 that answers from a script: for the SDK's tests of what
our own server never does on purpose (a 503 with Retry-After, a dropped connection, bytes
that do not match their ETag). It speaks HTTP/1.1 over a real socket (the standard
library's server in a thread); it is the test's own peer, not a stand-in for dataloft."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DROP = "drop"  # an answer that closes the connection without a word


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Send only this many bytes of the body, then close the connection (a broken
    # download: Content-Length still says the whole).
    cut: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Script:
    """The answers to give, in order, and the requests that came."""

    def __init__(self, *answers: Answer | str) -> None:
        self.answers = list(answers)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def next(self, seen: Seen) -> Answer | str:
        with self.lock:
            self.seen.append(seen)
            if not self.answers:
                return Answer(599, b"the script has ended")
            return self.answers.pop(0)


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = script.next(Seen(self.command, self.path, headers, body))
            if answer == DROP:
                self.close_connection = True
                return
            assert isinstance(answer, Answer)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body[: answer.cut])
            if answer.cut is not None:
                self.wfile.flush()
                self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


@contextmanager
def scripted(*answers: Answer | str) -> Iterator[tuple[str, Script]]:
    """A server that gives ``answers`` in order; its URL and the script (``seen``)."""
    script = Script(*answers)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
