"""``GET /datasets/<author>:<name>/event-stream`` (reference §4.1) read as an EventSource
would: the ``: sse-start`` comment, the current state at once, one event per new version
of this dataset with ``id:`` lines, keep-alives, and ``Last-Event-ID`` resumption that
misses nothing and repeats nothing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    bulk,
    create_dataset,
    error,
    put_record,
)


@dataclass
class Event:
    id: str | None
    data: dict[str, Any]


@dataclass
class EventReader:
    """Server-Sent Events from a streaming response, one at a time; comments are kept."""

    lines: Iterator[str]
    comments: list[str] = field(default_factory=list)

    def next(self) -> Event:
        event_id: str | None = None
        data: list[str] = []
        for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                return Event(event_id, json.loads("\n".join(data)))
        raise AssertionError("the stream ended")

    def wait_for_comment(self, text: str) -> None:
        for line in self.lines:
            if line.startswith(":") and line[1:].strip() == text:
                return
            assert not line.startswith("data:"), f"unexpected event: {line}"
        raise AssertionError("the stream ended")


@contextlib.contextmanager
def listen(po: httpx.Client, ds: Dataset, last_event_id: str | None = None) -> Iterator[Any]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    timeout = httpx.Timeout(10, read=10)
    with po.stream("GET", f"{ds.url}/event-stream", headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["access-control-allow-origin"] == "*"
        yield EventReader(response.iter_lines())


def expected(ds: Dataset, version: int, records: dict[str, int]) -> dict[str, Any]:
    return {
        "path": ds.url,
        "source": "datasets",
        "author": ds.author,
        "name": ds.name,
        "version": version,
        "records": records,
    }


def test_every_write_arrives_in_order_and_resumes_after_a_disconnect(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    other = create_dataset(po, alice)
    seen: list[Event] = []
    with listen(po, ds) as events:
        first = events.next()
        assert events.comments[0] == "sse-start"
        assert first.data == expected(ds, 0, {})
        assert first.id is not None and first.id.isdigit()
        seen.append(first)

        put_record(po, alice, ds, "a", 1)
        put_record(po, alice, other, "elsewhere", 1)  # another dataset: not in this stream
        assert bulk(po, alice, ds, {"b": 2, "c": 3}).status_code == 204
        assert po.delete(ds.record("a"), auth=basic(alice)).status_code == 204
        memo = po.put(f"{ds.url}/configuration", json={"memo": "new"}, auth=basic(alice))
        assert memo.status_code == 204
        for version, records in [
            (1, {"a": 1}),
            (2, {"a": 1, "b": 2, "c": 2}),
            (3, {"b": 2, "c": 2}),
            (4, {"b": 2, "c": 2}),
        ]:
            event = events.next()
            assert event.data == expected(ds, version, records)
            seen.append(event)
    ids = [int(event.id or 0) for event in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # Written while nobody listens:
    put_record(po, alice, ds, "d", 4)
    assert bulk(po, alice, ds, {"b": None}, method="POST").status_code == 204
    with listen(po, ds, last_event_id=seen[-1].id) as events:
        missed = [events.next(), events.next()]
        assert events.comments[0] == "sse-start"
        assert [e.data for e in missed] == [
            expected(ds, 5, {"b": 2, "c": 2, "d": 5}),
            expected(ds, 6, {"c": 2, "d": 5}),
        ]
        put_record(po, alice, ds, "e", 5)
        live = events.next()
        assert live.data == expected(ds, 7, {"c": 2, "d": 5, "e": 7})
        assert int(missed[0].id or 0) > ids[-1]
        assert int(live.id or 0) > int(missed[1].id or 0)


def test_resuming_from_the_first_event_replays_everything_after_it(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    with listen(po, ds) as events:
        start = events.next()
    for number in range(5):
        put_record(po, alice, ds, "n", number)
    with listen(po, ds, last_event_id=start.id) as events:
        versions = [events.next().data["version"] for _ in range(5)]
    assert versions == [1, 2, 3, 4, 5]


def test_the_first_event_is_the_current_state(po: httpx.Client, alice: User, ds: Dataset) -> None:
    assert bulk(po, alice, ds, {"x": 1, "y": 2}).status_code == 204
    put_record(po, alice, ds, "y", 3)
    with listen(po, ds) as events:
        assert events.next().data == expected(ds, 2, {"x": 1, "y": 2})


def test_an_idle_stream_sends_keep_alives(po: httpx.Client, ds: Dataset) -> None:
    with listen(po, ds) as events:
        events.next()
        events.wait_for_comment("sse-keep-alive")


def test_deleting_the_dataset_ends_its_stream(po: httpx.Client, alice: User, ds: Dataset) -> None:
    with listen(po, ds) as events:
        events.next()
        assert po.delete(ds.url + "/", auth=basic(alice)).status_code == 204
        remaining = list(events.lines)
    assert not any(line.startswith("data:") for line in remaining)


def test_streams_of_missing_or_private_datasets_are_404(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    error(po.get(f"/datasets/{alice.username}:nothing-here/event-stream"), 404)
    response = alice.client.patch(ds.native, json={"visibility": "private"})
    assert response.status_code == 200, response.text
    error(po.get(f"{ds.url}/event-stream", auth=basic(bob)), 404)
    bad = po.get(f"{ds.url}/event-stream", headers={"Last-Event-ID": "soon"}, auth=basic(alice))
    error(bad, 400)
