"""``GET /datasets/<author>:<name>/event-stream``: one Server-Sent Event per version.

As the reference recommends (§4.1): a ``: sse-start`` comment, at once an event with the
current state, then one event for every new version of this dataset, each
``{path, source, author, name, version, records}`` where ``records`` maps every record
of that version to its own version. Keep-alive comments go out every 5 seconds.

Unlike the original, every event carries ``id:``, the core event sequence number, so an
EventSource that reconnects with ``Last-Event-ID`` is sent every version it missed, in
order, and nothing twice. The stream ends when the dataset is deleted.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dataloft.api.pigeon.common import collection_path, source_of, split_spec
from dataloft.api.pigeon.datasets import snapshot
from dataloft.api.pipeline import Call
from dataloft.api.sse import EndOfStream, Feed, follow, frame, parse_last_event_id, response
from dataloft.core.access import Principal
from dataloft.core.errors import NotFound
from dataloft.core.loft import Loft
from dataloft.core.results import EventView

ENDING_EVENTS = ("dataset.delete", "dataset.purge")
KEEPALIVE = b": sse-keep-alive\n\n"


def _state(
    loft: Loft, actor: Principal, source: str, author: str, name: str, version: int
) -> dict[str, Any]:
    _, at, records = snapshot(loft, actor, author, name, version)
    return {
        "path": collection_path(author, name, source),
        "source": source,
        "author": author,
        "name": name,
        "version": at,
        "records": {record_id: meta["version"] for record_id, meta in records.items()},
    }


async def event_stream(call: Call) -> Response:
    loft, actor = call.loft, call.actor
    author, name = split_spec(call)
    source = source_of(call)
    resumed = parse_last_event_id(call.header("last-event-id"))
    # Read the sequence number before the state: a commit landing in between is then
    # both in the state and after the number, and the version check below drops it.
    after = resumed if resumed is not None else await call.in_thread(loft.events.last_seq)
    view = await call.in_thread(loft.datasets.get, actor, author, name)
    greeting = b": sse-start\n\n"
    sent = 0
    if resumed is None:
        state = await call.in_thread(_state, loft, actor, source, author, name, view.version)
        greeting += frame(state, seq=after)
        sent = state["version"]

    async def render(event: EventView, actor: Principal) -> bytes | None:
        nonlocal sent
        if event.kind in ENDING_EVENTS:
            raise EndOfStream
        if event.kind != "commit" or event.version is None or event.version <= sent:
            return None
        try:
            state = await call.in_thread(_state, loft, actor, source, author, name, event.version)
        except NotFound:  # renamed, or no longer readable: this address's feed is over
            raise EndOfStream from None
        sent = event.version
        return frame(state, seq=event.seq)

    feed = Feed(
        render,
        greeting=greeting,
        keepalive=KEEPALIVE,
        keepalive_seconds=loft.settings.pigeon_keepalive_seconds,
        dataset_id=view.id,
    )
    return response(call.request, follow(loft, actor, feed, after))
