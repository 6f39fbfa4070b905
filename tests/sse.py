"""A small parser of Server-Sent Events for the tests of every feed: the native change
feed's, the web UI's Events tab's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Message:
    comment: str | None = None  # set for comment lines (": keep-alive")
    id: str | None = None
    event: str | None = None
    data: str | None = None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class SSEReader:
    """Parses an ``text/event-stream`` body line by line. Comments are reported as they
    come; events when their terminating blank line arrives."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines: Iterator[str] = response.iter_lines()
        self.started = time.monotonic()

    def next(self, deadline: float) -> Message:
        current = Message()
        fields = False
        for line in self.lines:
            if line == "":
                if fields:
                    return current
                continue
            if line.startswith(":"):
                return Message(comment=line[1:].strip())
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields = True
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = value if current.data is None else current.data + "\n" + value
            if time.monotonic() > deadline:
                raise AssertionError("SSE stream: deadline passed")
        raise AssertionError("SSE stream ended")

    def events(self, count: int, timeout: float = 8.0) -> list[Message]:
        """The next ``count`` events, skipping comments."""
        deadline = time.monotonic() + timeout
        found: list[Message] = []
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(found)} of {count} events arrived")
            message = self.next(deadline)
            if message.comment is None:
                found.append(message)
        return found

    def events_until_keepalive(self, timeout: float = 8.0) -> list[Message]:
        """Events that arrive before the next keep-alive comment: the server sends one
        only after it has been idle, so these are all the events pending now."""
        deadline = time.monotonic() + timeout
        found: list[Message] = []
        while time.monotonic() < deadline:
            message = self.next(deadline)
            if message.comment == "keep-alive":
                return found
            if message.comment is None:
                found.append(message)
        raise AssertionError("no keep-alive arrived")
