"""The change feed (GET /loft/v1/events) over HTTP: JSON pages, visibility, and the live
Server-Sent Events stream with its keep-alives and Last-Event-ID resumption."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from dataloft.core.loft import Loft
from tests.conftest import User
from tests.sse import SSEReader
from tests.support import LiveServer, unique

SSE_HEADERS = {"Accept": "text/event-stream"}


# --- helpers ---------------------------------------------------------------------------------


def address(dataset: str) -> str:
    """``/datasets/owner/name`` -> ``owner/name``."""
    return dataset.removeprefix("/datasets/")


def put(record_id: str, value: Any) -> dict[str, Any]:
    return {"op": "put_record", "id": record_id, "value": value}


def drop(record_id: str) -> dict[str, Any]:
    return {"op": "delete_record", "id": record_id}


def commit(client: httpx.Client, dataset: str, changes: list[dict[str, Any]], message: str) -> int:
    response = client.post(f"{dataset}/commits", json={"changes": changes, "message": message})
    assert response.status_code == 201, response.text
    number: int = response.json()["version"]["number"]
    return number


def new_dataset(user: User, **body: Any) -> str:
    response = user.client.post("/datasets", json={"name": unique("ev"), **body})
    assert response.status_code == 201, response.text
    return f"/datasets/{user.username}/{response.json()['name']}"


def page(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/events", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "last_seq"}
    return body


def feed(client: httpx.Client, after: int, **params: Any) -> list[dict[str, Any]]:
    """Every event after ``after`` the client may see, walking all pages."""
    items: list[dict[str, Any]] = []
    for _ in range(1000):
        body = page(client, after=after, limit=1000, **params)
        items.extend(body["items"])
        if body["last_seq"] == after:
            return items
        assert body["last_seq"] > after
        after = body["last_seq"]
    raise AssertionError("the feed never ended")


def of(items: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    return [item for item in items if item["dataset"] == address(dataset)]


def kinds(items: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(item["kind"], item["version"]) for item in items]


def sse_client(server: LiveServer, user: User) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/loft/v1",
        headers={"Authorization": f"Bearer {user.token}"},
        timeout=10,
    )


# --- JSON form -------------------------------------------------------------------------------


def test_json_feed_of_a_dataset(alice: User, dataset: str) -> None:
    uid = alice.client.get(dataset).json()["uid"]
    assert commit(alice.client, dataset, [put("a", 1), put("b", 2), put("c", 3)], "one") == 1
    assert commit(alice.client, dataset, [put("a", 10), put("d", 4), put("b", 2)], "two") == 2
    assert commit(alice.client, dataset, [drop("b"), drop("c"), put("d", 4)], "three") == 3

    body = page(alice.client, dataset=address(dataset))
    items = body["items"]
    assert kinds(items) == [("dataset.create", 0), ("commit", 1), ("commit", 2), ("commit", 3)]
    seqs = [item["seq"] for item in items]
    assert seqs == sorted(set(seqs)) and len(seqs) == 4
    assert body["last_seq"] == seqs[-1]
    for item in items:
        assert set(item) == {"seq", "kind", "created", "dataset", "version", "actor", "payload"}
        assert item["dataset"] == address(dataset)
        assert item["actor"] == alice.username
        assert isinstance(datetime.fromisoformat(item["created"]), datetime)
    assert items[0]["payload"] == {
        "dataset": address(dataset),
        "uid": uid,
        "visibility": "private",
    }
    expected = [
        ("one", 0, 3, 0, 0),  # three records added
        ("two", 1, 1, 1, 0),  # d added, a changed, b unchanged
        ("three", 2, 0, 0, 2),  # b and c removed, d unchanged
    ]
    for item, (message, parent, added, changed, removed) in zip(items[1:], expected, strict=True):
        assert item["payload"] == {
            "dataset": address(dataset),
            "uid": uid,
            "version": parent + 1,
            "parent": parent,
            "author": alice.username,
            "message": message,
            "added": added,
            "changed": changed,
            "removed": removed,
        }

    # Nothing after the last event: an empty page that keeps the position.
    assert page(alice.client, dataset=address(dataset), after=seqs[-1]) == {
        "items": [],
        "last_seq": seqs[-1],
    }
    # The owner's global feed holds the same events.
    assert of(feed(alice.client, seqs[0] - 1), dataset) == items


def test_json_feed_paging_walks_everything_once(alice: User, dataset: str) -> None:
    for number in range(1, 6):
        assert commit(alice.client, dataset, [put(f"r{number}", number)], f"c{number}") == number
    everything = page(alice.client, dataset=address(dataset))["items"]
    assert kinds(everything) == [("dataset.create", 0)] + [("commit", n) for n in range(1, 6)]

    walked: list[dict[str, Any]] = []
    after = 0
    sizes = []
    for _ in range(10):
        body = page(alice.client, dataset=address(dataset), after=after, limit=2)
        sizes.append(len(body["items"]))
        if not body["items"]:
            assert body["last_seq"] == after
            break
        assert body["last_seq"] == body["items"][-1]["seq"]
        walked.extend(body["items"])
        after = body["last_seq"]
    assert sizes == [2, 2, 2, 0]
    assert walked == everything


def test_json_feed_bad_parameters(alice: User, dataset: str) -> None:
    no_slash = alice.client.get("/events", params={"dataset": "noslash"})
    assert no_slash.status_code == 400, no_slash.text
    assert no_slash.json()["error"]["code"] == "invalid"
    empty_name = alice.client.get("/events", params={"dataset": f"{alice.username}/"})
    assert empty_name.status_code == 400, empty_name.text
    unknown = alice.client.get("/events", params={"dataset": f"{alice.username}/{unique('no')}"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "not_found"
    for params in ({"after": -1}, {"limit": 0}, {"limit": 1001}, {"after": "x"}):
        response = alice.client.get("/events", params={"dataset": address(dataset), **params})
        assert response.status_code == 400, (params, response.text)
    garbage = alice.client.get("/events", headers={"Last-Event-ID": "abc"})
    assert garbage.status_code == 400, garbage.text


# --- visibility ------------------------------------------------------------------------------


def test_private_dataset_events_are_hidden_until_public(
    alice: User, bob: User, anon: httpx.Client, loft: Loft
) -> None:
    start = loft.events.last_seq()
    dataset = new_dataset(alice)
    commit(alice.client, dataset, [put("a", 1)], "private work")

    for client in (bob.client, anon):
        hidden = client.get("/events", params={"dataset": address(dataset)})
        assert hidden.status_code == 404, hidden.text
        assert of(feed(client, start), dataset) == []
    owner_view = of(feed(alice.client, start), dataset)
    assert kinds(owner_view) == [("dataset.create", 0), ("commit", 1)]

    made_public = alice.client.patch(dataset, json={"visibility": "public"})
    assert made_public.status_code == 200, made_public.text
    commit(alice.client, dataset, [put("b", 2)], "public work")
    owner_view = of(feed(alice.client, start), dataset)
    assert kinds(owner_view) == [
        ("dataset.create", 0),
        ("commit", 1),
        ("dataset.update", 1),
        ("commit", 2),
    ]
    assert owner_view[2]["payload"]["changed"] == ["visibility"]
    # Visibility is decided when the feed is read: a dataset readable now shows its whole
    # history (its versions are readable too), to everyone, anonymous included.
    for client in (bob.client, anon):
        assert of(feed(client, start), dataset) == owner_view
        assert page(client, dataset=address(dataset))["items"] == owner_view

    made_private = alice.client.patch(dataset, json={"visibility": "private"})
    assert made_private.status_code == 200, made_private.text
    for client in (bob.client, anon):
        assert of(feed(client, start), dataset) == []
        hidden = client.get("/events", params={"dataset": address(dataset)})
        assert hidden.status_code == 404, hidden.text


def test_anonymous_sees_public_datasets_only(alice: User, anon: httpx.Client, loft: Loft) -> None:
    start = loft.events.last_seq()
    public = new_dataset(alice, visibility="public")
    private = new_dataset(alice)
    commit(alice.client, public, [put("p", 1)], "p")
    commit(alice.client, private, [put("q", 1)], "q")

    seen = feed(anon, start)
    assert kinds(of(seen, public)) == [("dataset.create", 0), ("commit", 1)]
    assert of(seen, private) == []
    assert all(item["dataset"] is not None for item in seen)
    assert of(feed(alice.client, start), public) == of(seen, public)
    assert kinds(of(feed(alice.client, start), private)) == [("dataset.create", 0), ("commit", 1)]


def test_team_members_see_project_dataset_events(
    alice: User, bob: User, make_user: Callable[..., User], loft: Loft
) -> None:
    carol = make_user("carol")
    team, project = unique("team"), unique("proj")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    made = alice.client.post(f"/teams/{team}/projects", json={"name": project})
    assert made.status_code == 201, made.text
    joined = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "R"})
    assert joined.status_code == 200, joined.text

    start = loft.events.last_seq()
    dataset = new_dataset(alice, project=f"{team}/{project}")
    commit(alice.client, dataset, [put("x", 1)], "team work")

    owner_view = of(feed(alice.client, start), dataset)
    assert kinds(owner_view) == [("dataset.create", 0), ("commit", 1)]
    assert of(feed(bob.client, start), dataset) == owner_view
    assert page(bob.client, dataset=address(dataset))["items"] == owner_view
    assert of(feed(carol.client, start), dataset) == []
    hidden = carol.client.get("/events", params={"dataset": address(dataset)})
    assert hidden.status_code == 404, hidden.text


def test_account_and_team_events_are_for_admins_only(
    admin: User, alice: User, bob: User, anon: httpx.Client, loft: Loft
) -> None:
    start = loft.events.last_seq()
    newcomer, team = unique("newbie"), unique("team")
    created = admin.client.post("/users", json={"username": newcomer, "password": unique("pw-")})
    assert created.status_code == 201, created.text
    assert admin.client.post("/teams", json={"name": team}).status_code == 201
    joined = admin.client.put(f"/teams/{team}/members/{alice.username}", json={"level": "W"})
    assert joined.status_code == 200, joined.text

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            item
            for item in items
            if item["payload"].get("username") == newcomer or item["payload"].get("team") == team
        ]

    seen = mine(feed(admin.client, start))
    assert [(item["kind"], item["payload"]) for item in seen] == [
        ("user.create", {"username": newcomer}),
        ("team.create", {"team": team}),
        ("team.member", {"team": team, "username": alice.username, "level": "W"}),
    ]
    assert all(item["dataset"] is None and item["version"] is None for item in seen)
    assert [item["actor"] for item in seen[1:]] == ["admin", "admin"]
    # Not even the member the event is about, nor anyone else who is not a site admin.
    for client in (alice.client, bob.client, anon):
        others = feed(client, start)
        assert mine(others) == []
        assert [item for item in others if item["dataset"] is None] == []


# --- Server-Sent Events ----------------------------------------------------------------------


def test_sse_stream_delivers_new_events(server: LiveServer, alice: User, dataset: str) -> None:
    with (
        sse_client(server, alice) as client,
        client.stream(
            "GET", "/events", params={"dataset": address(dataset)}, headers=SSE_HEADERS
        ) as response,
    ):
        reader = SSEReader(response)
        assert response.headers["cache-control"] == "no-cache"
        first = reader.next(time.monotonic() + 5)
        assert first.comment == "connected"
        for number in (1, 2, 3):
            commit(alice.client, dataset, [put(f"k{number}", number)], f"m{number}")
        events = reader.events(3)

    # The default start is "now": the dataset's creation is not replayed.
    items = page(alice.client, dataset=address(dataset))["items"]
    assert kinds(items) == [("dataset.create", 0), ("commit", 1), ("commit", 2), ("commit", 3)]
    assert [e.id for e in events] == [str(item["seq"]) for item in items[1:]]
    assert [e.event for e in events] == ["commit", "commit", "commit"]
    assert [e.json() for e in events] == items[1:]


def test_sse_keepalive_when_idle(server: LiveServer, alice: User, dataset: str) -> None:
    with (
        sse_client(server, alice) as client,
        client.stream(
            "GET", "/events", params={"dataset": address(dataset)}, headers=SSE_HEADERS
        ) as response,
    ):
        reader = SSEReader(response)
        deadline = time.monotonic() + 5
        assert reader.next(deadline).comment == "connected"
        connected = time.monotonic()
        message = reader.next(deadline)
        idle = time.monotonic() - connected
        assert message.comment == "keep-alive", message
        # sse_keepalive_seconds is 1.0 in the test settings.
        assert 0.5 < idle < 3.0, idle
        assert reader.next(time.monotonic() + 3).comment == "keep-alive"


def test_sse_resumes_from_last_event_id(server: LiveServer, alice: User, dataset: str) -> None:
    with sse_client(server, alice) as client:
        params = {"dataset": address(dataset)}
        with client.stream("GET", "/events", params=params, headers=SSE_HEADERS) as response:
            reader = SSEReader(response)
            assert reader.next(time.monotonic() + 5).comment == "connected"
            commit(alice.client, dataset, [put("a", 1)], "one")
            commit(alice.client, dataset, [put("b", 2)], "two")
            before = reader.events(2)
        assert [e.json()["version"] for e in before] == [1, 2]

        # Disconnected: these two must not be lost.
        commit(alice.client, dataset, [put("c", 3)], "three")
        commit(alice.client, dataset, [put("d", 4)], "four")

        headers = {**SSE_HEADERS, "Last-Event-ID": before[-1].id or ""}
        with client.stream("GET", "/events", params=params, headers=headers) as response:
            missed = SSEReader(response).events_until_keepalive()
        items = page(alice.client, dataset=address(dataset))["items"]
        assert kinds(items)[-4:] == [("commit", 1), ("commit", 2), ("commit", 3), ("commit", 4)]
        assert [e.id for e in before + missed] == [str(item["seq"]) for item in items[-4:]]
        assert [e.json() for e in missed] == items[-2:]
        assert [e.json()["payload"]["message"] for e in missed] == ["three", "four"]

        # after=0 replays the whole history of the dataset.
        replay_params = {**params, "after": "0"}
        with client.stream("GET", "/events", params=replay_params, headers=SSE_HEADERS) as response:
            replayed = SSEReader(response).events_until_keepalive()
        assert [e.json() for e in replayed] == items
        assert [e.event for e in replayed] == ["dataset.create"] + ["commit"] * 4


def test_sse_last_event_id_wins_over_after(server: LiveServer, alice: User, dataset: str) -> None:
    commit(alice.client, dataset, [put("a", 1)], "one")
    commit(alice.client, dataset, [put("b", 2)], "two")
    items = page(alice.client, dataset=address(dataset))["items"]
    headers = {**SSE_HEADERS, "Last-Event-ID": str(items[1]["seq"])}
    params = {"dataset": address(dataset), "after": "0"}
    with (
        sse_client(server, alice) as client,
        client.stream("GET", "/events", params=params, headers=headers) as response,
    ):
        assert [e.json() for e in SSEReader(response).events_until_keepalive()] == items[2:]


def test_sse_bad_requests(server: LiveServer, alice: User, bob: User, dataset: str) -> None:
    with sse_client(server, alice) as client:
        garbage = client.get(
            "/events",
            params={"dataset": address(dataset)},
            headers={**SSE_HEADERS, "Last-Event-ID": "not-a-number"},
        )
        assert garbage.status_code == 400, garbage.text
        assert garbage.json()["error"]["code"] == "invalid"
        no_slash = client.get("/events", params={"dataset": "noslash"}, headers=SSE_HEADERS)
        assert no_slash.status_code == 400, no_slash.text
        missing = f"{alice.username}/{unique('none')}"
        unknown = client.get("/events", params={"dataset": missing}, headers=SSE_HEADERS)
        assert unknown.status_code == 404, unknown.text
    with sse_client(server, bob) as client:
        private = client.get("/events", params={"dataset": address(dataset)}, headers=SSE_HEADERS)
        assert private.status_code == 404, private.text


def test_sse_global_stream_hides_other_users_private_events(
    server: LiveServer, alice: User, bob: User
) -> None:
    private = new_dataset(alice)
    public = new_dataset(alice, visibility="public")
    with (
        sse_client(server, bob) as client,
        client.stream("GET", "/events", headers=SSE_HEADERS) as response,
    ):
        reader = SSEReader(response)
        assert reader.next(time.monotonic() + 5).comment == "connected"
        commit(alice.client, private, [put("secret", 1)], "hidden")
        commit(alice.client, public, [put("open", 1)], "shown")
        seen = [e.json() for e in reader.events(1)]
    assert [(item["dataset"], item["kind"], item["version"]) for item in seen] == [
        (address(public), "commit", 1)
    ]


@pytest.mark.parametrize("live", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("where", ["after", "last-event-id"])
def test_sequence_number_beyond_64_bits_is_a_400(
    server: LiveServer, alice: User, dataset: str, live: bool, where: str
) -> None:
    """Sequence numbers are 64-bit: a larger one is bad input, refused before any stream
    starts (never a 500, nor a 200 stream that then breaks)."""
    too_big = str(2**63)
    params = {"dataset": address(dataset)}
    headers = dict(SSE_HEADERS) if live else {}
    if where == "after":
        params["after"] = too_big
    else:
        headers["Last-Event-ID"] = too_big
    with (
        sse_client(server, alice) as client,
        client.stream("GET", "/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 400
        assert json.loads(response.read())["error"]["code"] == "invalid"
