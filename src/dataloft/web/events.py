"""A dataset's events: the Events tab lists the latest, newest first, from the core's
event log (commits, settings changes, tags, deletes and restores), and the stream beside it
brings each new one to the open page as it happens.

The page works as it is: the rows are the server's, a page at a time (``?before=`` for
older ones). With scripts on, ``static/events.js`` opens an EventSource on
``/-/events/stream?after=<the newest row's number>`` and puts each event it is sent at the
top of the list, filled into the page's own row template as text. Starting after the
newest row shown, the stream sends exactly what the page lacks, whenever it connects, and
a browser that reconnects sends ``Last-Event-ID`` and misses nothing (``api/sse.py``).

One function (``row``) says what a row shows, for the page and for the stream alike. The
stream is the native change feed's (``api/sse.follow``) narrowed to one dataset: it
re-checks the session while it runs and ends with a ``close`` event when the caller may no
longer read the dataset, which stays "not found" to those who never could.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes, streaming
from dataloft.api.sse import check_seq, follow, frame, house_feed, response, start_after
from dataloft.core.access import Action, Principal
from dataloft.core.results import EventView
from dataloft.web.datasets import dataset_context
from dataloft.web.render import PAGE_HEADERS, dataset_url, page, when

EVENTS_PAGE = 50


@dataclass(frozen=True)
class Row:
    """An event as the Events tab shows it: what happened, to which version, who did it,
    when, and in a line what it was."""

    seq: int
    kind: str
    version: int | None
    url: str | None  # the dataset at that version
    who: str
    created: str  # ISO 8601, for <time datetime>
    when: str
    summary: str


# The row the page's <template> holds for the script to fill in (its text is all replaced).
SKELETON = Row(seq=0, kind="", version=0, url="", who="", created="", when="", summary="")


def _counts(payload: dict[str, Any]) -> str:
    """Entries added, changed and removed, as the Versions tab writes them."""
    added, changed, removed = (payload.get(key, 0) for key in ("added", "changed", "removed"))
    return f"+{added} ~{changed} \u2212{removed}"


def _version(number: object) -> str:
    return f"v{number}" if number is not None else "none"


def summary(event: EventView) -> str:
    """What the event did, in a line: a commit's message and counts, the fields a change
    of settings touched, where a tag went. Payloads are the core's own (``core/commits.py``,
    ``core/datasets.py``, ``core/tags.py``); a kind not named here gets none."""
    payload, kind = event.payload, event.kind
    if kind == "commit":
        message = str(payload.get("message") or "")
        return f"{message} · {_counts(payload)}" if message else _counts(payload)
    if kind == "dataset.create":
        return f"created ({payload.get('visibility', 'private')})"
    if kind == "dataset.update":
        return "changed " + ", ".join(str(field) for field in payload.get("changed", []))
    if kind == "dataset.transfer":
        return f"moved to {payload.get('owner')}"
    tag, version, previous = (payload.get(key) for key in ("tag", "version", "previous"))
    if kind == "tag.create":
        return f"tag {tag} at {_version(version)}"
    if kind == "tag.move":
        return f"tag {tag} moved from {_version(previous)} to {_version(version)}"
    if kind == "tag.delete":
        return f"tag {tag} deleted (was at {_version(previous)})"
    return _SAID.get(kind, "")


# Events whose kind says it all.
_SAID = {"dataset.delete": "deleted", "dataset.restore": "restored", "dataset.purge": "purged"}


def row(event: EventView, dataset: str) -> Row:
    """``event`` as a row of the tab of the dataset at ``dataset`` (its page's URL)."""
    version = event.version
    return Row(
        seq=event.seq,
        kind=event.kind,
        version=version,
        url=f"{dataset}?version={version}" if version is not None else None,
        who=event.actor or "someone",
        created=event.created.isoformat(),
        when=when(event.created),
        summary=summary(event),
    )


def events(call: Call) -> Response:
    """The Events tab: the dataset's latest events, newest first, ``EVENTS_PAGE`` at a
    time; ``?before=<number>`` pages back. The first page follows new ones live."""
    raw_before = call.number("before")
    before = None if raw_before is None else check_seq(raw_before)
    context = dataset_context(call, None)
    dataset = context["dataset"]
    url = dataset_url(dataset.owner, dataset.name)
    found = call.loft.events.latest(
        call.actor,
        dataset_id=context["located"].row.id,
        before=before,
        limit=EVENTS_PAGE + 1,
    )
    rows = [row(event, url) for event in found[:EVENTS_PAGE]]
    older = rows[-1].seq if len(found) > EVENTS_PAGE else None
    stream = None
    if before is None:  # an older page stays as it is: new events go on the first
        newest = rows[0].seq if rows else 0
        stream = dataset_url(dataset.owner, dataset.name, "events", "stream") + f"?after={newest}"
    context.update(rows=rows, older=older, stream=stream, skeleton=SKELETON, tab="events")
    return page(call, "events.html", context)


async def stream(call: Call) -> Response:
    """The dataset's events from now (or after ``?after=``, or the ``Last-Event-ID`` a
    reconnecting browser sends), one ``data:`` line of a row's JSON each, with its
    sequence number as the ``id:``."""
    loft, actor = call.loft, call.actor
    owner, name = call.param("owner"), call.param("name")
    after = call.number("after")
    last_event_id = call.header("last-event-id")
    dataset = await call.in_thread(loft.datasets.get, actor, owner, name, Action.READ)
    start = await call.in_thread(start_after, loft, after, last_event_id, True)
    url = dataset_url(dataset.owner, dataset.name)

    async def render(event: EventView, _actor: Principal) -> bytes:
        return frame(asdict(row(event, url)), seq=event.seq)

    feed = house_feed(loft, render, dataset.id)
    headers = {"Cache-Control": PAGE_HEADERS["Cache-Control"]}  # what the caller may read
    return response(call.request, follow(loft, actor, feed, start), headers)


ROUTES: Routes = {
    "/ui/{owner}/{name}/-/events": {"GET": events},
    "/ui/{owner}/{name}/-/events/stream": {"GET": streaming(stream)},
}
