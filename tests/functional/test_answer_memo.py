"""Repeated reads answered from memory (api/memo.py, ``AnswerMemo``) are the answers a fresh
read would give: after any commit, from this process or another, for another caller, once
a token expires or is revoked, and with the edge's headers once each.

On PostgreSQL nothing is kept (there is no mark of the database's state); the same
requests must give the same answers there, so every test runs on both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx

from dataloft.api.front import LoftApp
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.changes import PutRecord
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import Clock, LiveServer


def _kept(server: LiveServer) -> int:
    """How many answers the server keeps (0 on PostgreSQL)."""
    app = server.server.config.app
    assert isinstance(app, LoftApp)
    return len(app.memo) if app.memo is not None else 0


def _record(user: User, dataset: str, value: object) -> str:
    path = f"{dataset}/records/r"
    assert user.client.put(path, json=value).status_code in (200, 201)
    return path


def test_a_kept_answer_ends_with_any_commit(
    alice: User, dataset: str, server: LiveServer, settings: Settings
) -> None:
    path = _record(alice, dataset, {"n": 1})
    before = _kept(server)
    first, again = alice.client.get(path), alice.client.get(path)
    assert first.json() == again.json() == {"n": 1}
    assert again.headers["etag"] == first.headers["etag"]
    if settings.is_sqlite:
        assert _kept(server) == before + 1

    alice.client.put(path, json={"n": 2})  # through the server
    assert alice.client.get(path).json() == {"n": 2}

    # Another process (the ``dataloft`` command) on the same database and blob store.
    with Loft(settings) as command:
        owner, name = dataset.split("/")[2:]
        command.commits.commit(SYSTEM, owner, name, [PutRecord("r", {"n": 3})])
    assert alice.client.get(path).json() == {"n": 3}


def test_another_caller_gets_its_own_answer(
    alice: User, bob: User, anon: httpx.Client, dataset: str
) -> None:
    path = _record(alice, dataset, {"secret": True})
    assert alice.client.get(path).status_code == 200
    assert alice.client.get(path).status_code == 200  # kept now
    assert bob.client.get(path).status_code == 404
    assert anon.get(path).status_code == 404
    # The same token in a header spelled another way is another key, not a way around.
    assert anon.get(path, headers={"authorization": f"Bearer {bob.token}"}).status_code == 404


def test_an_expired_or_revoked_token_is_not_answered_from_memory(
    make_user: Callable[..., User], loft: Loft, clock: Clock, server: LiveServer
) -> None:
    owner = make_user("memo")
    dataset = f"/datasets/{owner.username}/kept"
    assert owner.client.post("/datasets", json={"name": "kept"}).status_code == 201
    path = _record(owner, dataset, {"n": 1})
    made = loft.auth.create_token(
        SYSTEM, username=owner.username, expires_at=clock() + timedelta(minutes=5)
    )
    revoked = loft.auth.create_token(SYSTEM, username=owner.username)
    with (
        httpx.Client(base_url=server.url + "/loft/v1") as client,
        httpx.Client(base_url=server.url + "/loft/v1") as other,
    ):
        client.headers["Authorization"] = f"Bearer {made.secret}"
        other.headers["Authorization"] = f"Bearer {revoked.secret}"
        assert client.get(path).status_code == client.get(path).status_code == 200
        assert other.get(path).status_code == other.get(path).status_code == 200
        clock.advance(600)
        expired = client.get(path)
        assert expired.status_code == 401, expired.text
        assert other.get(path).status_code == 200
        loft.auth.revoke_token(SYSTEM, revoked.token.id)
        assert other.get(path).status_code == 401


def test_kept_answers_carry_the_edge_headers_once(alice: User, dataset: str) -> None:
    path = _record(alice, dataset, {"n": 1})
    for _ in range(3):
        answer = alice.client.get(path)
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
        assert answer.headers.get_list("etag") == [answer.headers["etag"]]


def test_conditional_and_head_reads_are_kept_apart(alice: User, dataset: str) -> None:
    path = _record(alice, dataset, {"n": 1})
    etag = alice.client.get(path).headers["etag"]
    for _ in range(2):
        assert alice.client.get(path, headers={"If-None-Match": etag}).status_code == 304
        head = alice.client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(b'{"n":1}')
        assert alice.client.get(path).json() == {"n": 1}
    alice.client.put(path, json={"n": 22})
    assert alice.client.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_visibility_change_ends_kept_answers(alice: User, anon: httpx.Client, dataset: str) -> None:
    path = _record(alice, dataset, {"n": 1})
    alice.client.patch(dataset, json={"visibility": "public"}).raise_for_status()
    assert anon.get(path).status_code == anon.get(path).status_code == 200
    alice.client.patch(dataset, json={"visibility": "private"}).raise_for_status()
    assert anon.get(path).status_code == 404
