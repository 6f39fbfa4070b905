"""Server-Sent Events over the core event log, for every dialect's change feed.

``follow`` streams the events after a sequence number forever: it is woken at once by
commits in this process and polls the database for commits made by other processes. Each
dialect renders events its own way and picks its own keep-alive comment and interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from dataloft.api.transfer import in_thread
from dataloft.core.access import Principal
from dataloft.core.errors import Invalid
from dataloft.core.loft import Loft
from dataloft.core.views import EventView

BATCH = 500
SEQ_MAX = 2**63 - 1  # sequence numbers are 64-bit columns


class EndOfStream(Exception):
    """Raised by a renderer when its feed is over (say, the dataset was deleted)."""


Render = Callable[[EventView], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Feed:
    """Which events, and how they are written."""

    render: Render  # bytes to send for an event, or None to send nothing
    greeting: bytes  # the first thing sent: proof the stream is open
    keepalive: bytes
    keepalive_seconds: float
    dataset_id: int | None = None


async def follow(loft: Loft, actor: Principal, feed: Feed, after: int) -> AsyncIterator[bytes]:
    """Every event visible to ``actor`` after sequence number ``after``, as ``feed``
    renders them, until the client goes away or the renderer ends the feed."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def listener() -> None:
        loop.call_soon_threadsafe(wake.set)

    loft.events.subscribe(listener)
    try:
        yield feed.greeting
        last_write = time.monotonic()
        while True:
            wake.clear()  # before reading: a commit landing meanwhile sets it again
            batch = await in_thread(
                loft.events.read_after, actor, after, dataset_id=feed.dataset_id, limit=BATCH
            )
            for event in batch.events:
                try:
                    frame = await feed.render(event)
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
    if not value.strip().isdigit():
        raise Invalid("Last-Event-ID must be an event sequence number")
    return check_seq(int(value))
