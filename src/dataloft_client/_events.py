"""The event log: as a live Server-Sent Events stream that survives dropped connections
and server restarts, and as JSON pages.

The stream remembers the ``seq`` of the last event it gave out. When the connection drops
or ends (a server restarting, a proxy timing out), or the server cannot be reached or
answers 502/503/504, it waits (exponential backoff with jitter, capped, without limit: a
live feed waits for its server, as EventSource does) and reconnects with
``Last-Event-ID: <that seq>``: the server resumes right after it, so no event is lost and
none is given twice. Any other error answer is raised. ``event: close`` (the token was
revoked, the dataset can no longer be read) raises ``StreamClosed``.

Until the first event arrives, a stream started without ``after`` has no position: a
reconnection then starts again at "now" as the server sees it, and events of the gap are
missed. Pass ``after`` (a ``seq`` from ``list_events`` or an earlier event, or 0 for all
history) when none may be missed.
"""

from __future__ import annotations

import json

from dataloft_client._commands import Close, Emit, Listing, Read, Request, Sleep
from dataloft_client._exceptions import (
    DataloftError,
    ServerError,
    StreamClosed,
    TransportError,
)
from dataloft_client._http import Context, call, send
from dataloft_client._sse import SSEParser
from dataloft_client.models import Event

_RETRIED_STATUSES = frozenset({502, 503, 504})


def _lost(error: DataloftError) -> bool:
    """A failure worth reconnecting after: the server is away, not refusing."""
    if isinstance(error, ServerError):
        return error.status in _RETRIED_STATUSES
    return isinstance(error, TransportError)


def events(ctx: Context, dataset: str | None = None, after: int | None = None) -> Listing[Event]:
    """Events as they happen: those after ``after`` first (default: from now), then each
    new one, forever. ``dataset`` (``owner/name``) follows one dataset."""
    last = after
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        params: dict[str, str | int] = {} if dataset is None else {"dataset": dataset}
        # No retries inside send: reconnecting is this loop's business, without limit.
        request = Request("GET", "/events", params, headers, stream=True, retry=False)
        try:
            response = yield from send(ctx, request)
        except DataloftError as error:
            if not _lost(error):
                raise
        else:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                yield Close(response)
                raise DataloftError(f"{response.url} did not answer with an event stream")
            try:
                parser = SSEParser()
                while chunk := (yield Read(response)):
                    for message in parser.feed(chunk):
                        if message.event == "close":
                            raise StreamClosed(_reason(message.data))
                        event = Event.from_json(json.loads(message.data))
                        last, failures = event.seq, 0
                        yield Emit(event)
            except DataloftError as error:
                yield Close(response)
                if not _lost(error):
                    raise
            else:
                yield Close(response)
        # Dropped, ended or unreachable: wait, then resume after the last event seen.
        yield Sleep(ctx.policy.backoff(failures))
        failures += 1


def _reason(data: str) -> str:
    try:
        reason = json.loads(data).get("reason")
    except (ValueError, AttributeError):
        return data
    return str(reason) if reason is not None else data


def list_events(ctx: Context, dataset: str | None = None, after: int = 0) -> Listing[Event]:
    """Every event after ``after`` you may see, up to now, from the JSON pages."""
    while True:
        params: dict[str, str | int] = {"after": after, "limit": 1000}
        if dataset is not None:
            params["dataset"] = dataset
        page = yield from call(ctx, Request("GET", "/events", params))
        for item in page["items"]:
            yield Emit(Event.from_json(item))
        # last_seq is the last number scanned; it equals ``after`` once all is read.
        if page["last_seq"] == after:
            return
        after = page["last_seq"]
