"""Server-Sent Events over the core event log, for every dialect's change feed.

``follow`` streams the events after a sequence number forever: it is woken at once by
commits in this process and polls the database for commits made by other processes. Each
dialect renders events its own way and picks its own keep-alive comment and interval.

A stream outlives the moment its caller was authenticated, so it asks again: before every
batch of events it delivers, and at least every ``stream_recheck_seconds`` while idle, it
re-authenticates the caller (``AuthService.reauthenticate``: a revoked token or session, a
deactivated account or a changed password fail) and re-checks the feed's own rule (may the
caller still read this dataset?) with fresh team levels. When they no longer hold, the
stream sends a ``close`` event saying why and ends.

Where a stream starts (``start_after``), how an event is framed (``frame``) and the
response that carries a stream (``response``) are the same for every feed; the native
API's and the web UI's also share their greeting and keep-alive (``house_feed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dataloft.api.threads import in_thread
from dataloft.core.access import Principal
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.events import EventBatch
from dataloft.core.loft import Loft
from dataloft.core.pagination import ascii_natural
from dataloft.core.results import EventView

BATCH = 500
EVENT_STREAM = "text/event-stream"
# What a feed with no format of its own sends first (proof the stream is open) and when idle.
GREETING = b": connected\n\n"
KEEPALIVE = b": keep-alive\n\n"
SEQ_MAX = 2**63 - 1  # sequence numbers are 64-bit columns
# What ends a stream when re-checked: the caller is no longer who they were, or may no
# longer read what the stream is about.
_REVOKED = (Unauthenticated, Forbidden, NotFound)


class EndOfStream(Exception):
    """Raised by a renderer when its feed is over (say, the dataset was deleted)."""


# (event, the caller as of this batch) -> bytes to send, or None to send nothing
Render = Callable[[EventView, Principal], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Feed:
    """Which events, and how they are written."""

    render: Render
    greeting: bytes  # the first thing sent: proof the stream is open
    keepalive: bytes
    keepalive_seconds: float
    dataset_id: int | None = None  # one dataset's events only (the caller must read it)


def house_feed(loft: Loft, render: Render, dataset_id: int | None = None) -> Feed:
    """A feed with no format of its own (the native API's, the web UI's): ``connected``
    first, a ``keep-alive`` comment every ``sse_keepalive_seconds`` of quiet."""
    keepalive_seconds = loft.settings.sse_keepalive_seconds
    return Feed(render, GREETING, KEEPALIVE, keepalive_seconds, dataset_id)


def frame(data: Any, *, seq: int | None = None, kind: str | None = None) -> bytes:
    """One event: its ``id:`` (the sequence number a reconnecting client sends back as
    ``Last-Event-ID``), its ``event:`` type if it has one (an EventSource hands events
    without one to ``onmessage``) and ``data`` as one line of JSON."""
    head = "" if seq is None else f"id: {seq}\n"
    if kind is not None:
        head += f"event: {kind}\n"
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}data: {text}\n\n".encode()


def close_frame(reason: str) -> bytes:
    """The last event of a stream whose caller lost the right to it."""
    return frame({"reason": reason}, kind="close")


def response(
    request: Request, stream: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> Response:
    """The answer that carries a stream: never reused from a cache, and never buffered by
    a proxy in front (``X-Accel-Buffering``), which would hold events back. A HEAD gets the headers
    alone: streamed, its answer would follow the log, sending nothing, for as long as the
    client kept the connection open."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})}
    if request.method == "HEAD":
        return Response(media_type=EVENT_STREAM, headers=headers)
    return StreamingResponse(stream, media_type=EVENT_STREAM, headers=headers)


class _Reader:
    """Reads the next batch, re-checking the caller whenever there is one to deliver."""

    def __init__(self, loft: Loft, actor: Principal, feed: Feed) -> None:
        self.loft = loft
        self.actor = actor
        self.feed = feed
        self.checked = time.monotonic()

    def _recheck(self) -> None:
        actor = self.loft.auth.reauthenticate(self.actor)
        if self.feed.dataset_id is not None:
            self.loft.datasets.check_readable(actor, self.feed.dataset_id)
        self.actor, self.checked = actor, time.monotonic()

    def next_batch(self, after: int) -> EventBatch:
        """Events after ``after``. When the log has moved on (something to deliver, or to
        skip as invisible) or the last check is ``stream_recheck_seconds`` old, the caller
        is checked first and the batch is read with what they may see now."""
        read = self.loft.events.read_after
        batch = read(self.actor, after, dataset_id=self.feed.dataset_id, limit=BATCH)
        due = time.monotonic() - self.checked >= self.loft.settings.stream_recheck_seconds
        if batch.scanned_to > after or due:
            self._recheck()
            if batch.scanned_to > after:
                batch = read(self.actor, after, dataset_id=self.feed.dataset_id, limit=BATCH)
        return batch


async def follow(loft: Loft, actor: Principal, feed: Feed, after: int) -> AsyncIterator[bytes]:
    """Every event visible to ``actor`` after sequence number ``after``, as ``feed``
    renders them, until the client goes away, the renderer ends the feed, or the caller
    no longer may follow it."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    reader = _Reader(loft, actor, feed)

    def listener() -> None:
        loop.call_soon_threadsafe(wake.set)

    loft.events.subscribe(listener)
    try:
        yield feed.greeting
        last_write = time.monotonic()
        while True:
            wake.clear()  # before reading: a commit landing meanwhile sets it again
            try:
                batch = await in_thread(reader.next_batch, after)
            except _REVOKED as error:
                yield close_frame(error.message)
                return
            for event in batch.events:
                try:
                    frame = await feed.render(event, reader.actor)
                except EndOfStream:
                    return
                if frame is not None:
                    yield frame
                    last_write = time.monotonic()
            after = batch.scanned_to
            if batch.more:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=loft.settings.event_poll_seconds)
            if time.monotonic() - last_write >= feed.keepalive_seconds:
                yield feed.keepalive
                last_write = time.monotonic()
    finally:
        loft.events.unsubscribe(listener)


def check_seq(number: int) -> int:
    if number > SEQ_MAX:
        raise Invalid(f"an event sequence number is at most {SEQ_MAX}")
    return number


def parse_last_event_id(value: str | None) -> int | None:
    """The sequence number a reconnecting EventSource sends back, or None."""
    if value is None:
        return None
    seq = ascii_natural(value.strip())
    if seq is None:
        raise Invalid("Last-Event-ID must be an event sequence number")
    return check_seq(seq)


def start_after(loft: Loft, after: int | None, last_event_id: str | None, tail: bool) -> int:
    """Where a stream starts: right after the ``Last-Event-ID`` a reconnecting client
    sends, else after ``after``, else at the end of the log (``tail``: only what happens
    from now on) or its beginning."""
    resumed = parse_last_event_id(last_event_id)
    if resumed is not None:
        return resumed
    if after is not None:
        return check_seq(after)
    return loft.events.last_seq() if tail else 0
