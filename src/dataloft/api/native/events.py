"""Native API: the change feed, as Server-Sent Events or as JSON pages.

Every event has a global sequence number. SSE clients get it as the ``id:`` of each event;
browsers send it back as ``Last-Event-ID`` when they reconnect, and the feed resumes right
after it with nothing lost. Polling clients use ``?after=<seq>`` and the JSON form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import TypeAdapter, WithJsonSchema
from starlette.responses import Response

from dataloft.api.listings import listing
from dataloft.api.native.deps import NativeCall, native_router
from dataloft.api.native.openapi import ANONYMOUS, errors
from dataloft.api.native.schemas import EventPage
from dataloft.api.pipeline import Call
from dataloft.api.sse import SEQ_MAX, follow, frame, house_feed, response, start_after
from dataloft.core.access import Action, Principal
from dataloft.core.errors import Invalid
from dataloft.core.loft import Loft
from dataloft.core.results import EventView
from dataloft.core.values import render_plain_json

router = native_router(tags=["events"])


_EVENT = TypeAdapter(EventView)


def event_json(event: EventView) -> dict[str, Any]:
    data: dict[str, Any] = _EVENT.dump_python(event, mode="json")
    return data


async def _render(event: EventView, _actor: Principal) -> bytes:
    return frame(event_json(event), seq=event.seq, kind=event.kind)


def _dataset_id(loft: Loft, actor: Principal, address: str | None) -> int | None:
    if address is None:
        return None
    owner, _, name = address.partition("/")
    if not owner or not name:
        raise Invalid("dataset must be given as 'owner/name'")
    return loft.datasets.get(actor, owner, name, Action.READ).id


# Read by parse_last_event_id, which refuses what this says it may not be.
_SEQ = {"type": "integer", "minimum": 0, "maximum": SEQ_MAX}


@router.get(
    "/events",
    response_model=EventPage,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "description": "With Accept: text/event-stream: 'id: <seq>', "
                    "'event: <kind>', 'data: <the event as JSON>' per event",
                }
            }
        },
        **errors(404),
    },
    openapi_extra=ANONYMOUS,
)
async def events(
    call: NativeCall,
    dataset: str | None = Query(
        None,
        description="'owner/name': only this dataset's events",
        json_schema_extra={"pattern": r"^[^/\x00]+/[^\x00]+$"},
    ),
    after: int | None = Query(
        None, ge=0, le=SEQ_MAX, description="Start after this sequence number"
    ),
    limit: int = Query(100, ge=1, le=1000, description="JSON form only"),
    last_event_id: Annotated[str | None, Header(), WithJsonSchema(_SEQ)] = None,
) -> Response:
    """The change feed. With ``Accept: text/event-stream`` (what EventSource sends) a live
    SSE stream that starts after ``Last-Event-ID`` or ``after`` (default: now); otherwise
    one JSON page of events after ``after`` (default: the beginning)."""
    loft, actor = call.loft, call.actor
    dataset_id = await call.in_thread(_dataset_id, loft, actor, dataset)
    live = "text/event-stream" in (call.header("accept") or "")
    start = await call.in_thread(start_after, loft, after, last_event_id, live)
    if live:
        feed = house_feed(loft, _render, dataset_id)
        return response(call.request, follow(loft, actor, feed, start))
    return await call.in_thread(_page, call, start, dataset_id, limit)


def _page(call: Call, start: int, dataset_id: int | None, limit: int) -> Response:
    """One JSON page of events, gzipped for clients that accept it. Its values are plain
    JSON data (payloads hold names, numbers and lists of names), which orjson writes as
    ``json.dumps`` does."""
    batch = call.loft.events.read_after(call.actor, start, dataset_id=dataset_id, limit=limit)
    body = {"items": [event_json(e) for e in batch.events], "last_seq": batch.scanned_to}
    return listing(call.request, render_plain_json(body), media_type="application/json")
