"""An open change feed (``GET /events`` as Server-Sent Events) keeps asking whether its
caller may still follow it: a revoked token, a deactivated account or a lost team
membership ends the stream with a ``close`` event, and a global feed stops showing a
dataset its caller may no longer read. (The test settings re-check every 0.5 s; the
default is 15 s, which with the 1 s poll ends a stream within 30 s.)"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import LiveServer, unique

SSE = {"Accept": "text/event-stream"}
# How long a stream may take to notice, in these tests' settings (generous for slow CI).
NOTICE_SECONDS = 10.0


class Stream:
    """The events of an SSE response as ``(event, data)``, comments skipped."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        self.lines = response.iter_lines()

    def next(self) -> tuple[str, dict[str, Any]]:
        name, data = "message", None
        for line in self.lines:
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
            elif line == "" and data is not None:
                return name, data
        raise AssertionError("the stream ended")

    def closed(self) -> str:
        """Wait for the ``close`` event (nothing else may come first) and the stream's end;
        the reason it gave."""
        name, data = self.next()
        assert name == "close", (name, data)
        assert list(self.lines) == []  # and then the server ends the response
        reason: str = data["reason"]
        return reason


@contextlib.contextmanager
def opened(server: LiveServer, token: str, **params: str) -> Iterator[Stream]:
    timeout = httpx.Timeout(NOTICE_SECONDS, read=NOTICE_SECONDS)
    headers = {"Authorization": f"Bearer {token}", **SSE}
    with (
        httpx.Client(base_url=server.url + "/loft/v1", timeout=timeout) as client,
        client.stream("GET", "/events", params=params, headers=headers) as response,
    ):
        yield Stream(response)


def commit(user: User, dataset: str, record_id: str) -> None:
    body = {"changes": [{"op": "put_record", "id": record_id, "value": 1}]}
    response = user.client.post(f"{dataset}/commits", json=body)
    assert response.status_code == 201, response.text


def address(dataset: str) -> str:
    return dataset.removeprefix("/datasets/")


def test_the_test_settings_recheck_quickly(settings: Settings) -> None:
    assert settings.stream_recheck_seconds <= 1.0
    assert Settings.model_fields["stream_recheck_seconds"].default == 15.0


def test_revoking_the_token_ends_its_open_stream(
    server: LiveServer, loft: Loft, alice: User, dataset: str
) -> None:
    made = loft.auth.create_token(SYSTEM, username=alice.username, name="for the stream")
    with opened(server, made.secret, dataset=address(dataset)) as events:
        commit(alice, dataset, "before")
        assert events.next()[0] == "commit"
        revoked = alice.client.delete(f"/tokens/{made.token.id}")
        assert revoked.status_code == 204, revoked.text
        started = time.monotonic()
        assert "revoked" in events.closed()
    assert time.monotonic() - started < NOTICE_SECONDS


def test_a_revoked_token_sees_no_event_committed_after_it(
    server: LiveServer, loft: Loft, alice: User, dataset: str
) -> None:
    made = loft.auth.create_token(SYSTEM, username=alice.username, name="for the stream")
    with opened(server, made.secret, dataset=address(dataset)) as events:
        loft.auth.revoke_token(SYSTEM, made.token.id)
        commit(alice, dataset, "after the revocation")
        assert "revoked" in events.closed()


def test_deactivating_the_account_ends_its_streams(
    server: LiveServer, admin: User, make_user: Callable[..., User]
) -> None:
    dave = make_user("dave")
    with opened(server, dave.token) as events:
        gone = admin.client.delete(f"/users/{dave.username}")
        assert gone.status_code == 200, gone.text
        assert "deactivated" in events.closed()


def _team_dataset(alice: User, bob: User) -> tuple[str, str]:
    team, project = unique("team"), unique("proj")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    made = alice.client.post(f"/teams/{team}/projects", json={"name": project})
    assert made.status_code == 201, made.text
    joined = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "R"})
    assert joined.status_code == 200, joined.text
    created = alice.client.post(
        "/datasets", json={"name": unique("ds"), "project": f"{team}/{project}"}
    )
    assert created.status_code == 201, created.text
    return team, f"/datasets/{alice.username}/{created.json()['name']}"


def test_leaving_the_team_ends_a_stream_of_the_teams_dataset(
    server: LiveServer, alice: User, bob: User
) -> None:
    team, dataset = _team_dataset(alice, bob)
    with opened(server, bob.token, dataset=address(dataset)) as events:
        commit(alice, dataset, "seen")
        assert events.next()[0] == "commit"
        removed = alice.client.delete(f"/teams/{team}/members/{bob.username}")
        assert removed.status_code == 204, removed.text
        assert "not found" in events.closed()


def test_after_leaving_the_team_the_global_feed_hides_its_datasets(
    server: LiveServer, alice: User, bob: User
) -> None:
    team, dataset = _team_dataset(alice, bob)
    public = alice.client.post("/datasets", json={"name": unique("pub"), "visibility": "public"})
    assert public.status_code == 201, public.text
    shown = f"/datasets/{alice.username}/{public.json()['name']}"
    with opened(server, bob.token) as events:
        commit(alice, dataset, "while a member")
        name, data = events.next()
        assert (name, data["dataset"]) == ("commit", address(dataset))
        removed = alice.client.delete(f"/teams/{team}/members/{bob.username}")
        assert removed.status_code == 204, removed.text
        commit(alice, dataset, "after leaving")
        commit(alice, shown, "for everyone")
        name, data = events.next()
        assert (name, data["dataset"]) == ("commit", address(shown))
