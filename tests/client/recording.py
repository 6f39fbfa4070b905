"""An httpx transport that sends for real and notes what it sent: for tests that check
which requests a method makes (a Range here, an Upload-Offset there)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    headers: dict[str, str]
    origin: str = ""  # scheme://host:port


class Recording(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.sent.append(Sent(request.method, request.url.path, headers, origin))
        return super().handle_request(request)

    def ranges(self) -> list[tuple[str, str | None]]:
        """Each request's method and Range header."""
        return [(sent.method, sent.headers.get("range")) for sent in self.sent]
