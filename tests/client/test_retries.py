"""Retries against a scripted server: which failures are retried for which methods, how
long the client waits (the injected sleep records it), and that a body is sent whole
again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dataloft_client import (
    AsyncClient,
    Client,
    NetworkError,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
)
from tests.client.scripted import DROP, Answer, scripted

LICENCE = {
    "id": 11,
    "name": "MIT",
    "url": "https://opensource.org/licenses/MIT",
    "permissions": [],
    "conditions": [],
    "limitations": [],
    "domains": [],
}
OK = Answer(200, json.dumps(LICENCE).encode(), {"Content-Type": "application/json"})
BUSY = b'{"error": {"code": "unavailable", "message": "busy"}}'


def busy(retry_after: str | None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Answer(503, BUSY, headers)


def test_a_503_is_retried_after_the_wait_the_server_asks_for() -> None:
    waits: list[float] = []
    with (
        scripted(busy("2"), busy("1"), OK) as (url, script),
        Client(url, "t", sleep=waits.append) as client,
    ):
        licence = client.get_licence("mit")
    assert licence.name == "MIT"
    assert waits == [2.0, 1.0]
    assert [seen.path for seen in script.seen] == ["/loft/v1/licences/mit"] * 3
    assert script.seen[0].headers["authorization"] == "Bearer t"


def test_retries_run_out() -> None:
    waits: list[float] = []
    with (
        scripted(*[busy("1")] * 5) as (url, script),
        Client(url, retries=2, sleep=waits.append) as client,
        pytest.raises(ServiceUnavailable) as caught,
    ):
        client.get_licence("mit")
    assert caught.value.message == "busy" and waits == [1.0, 1.0]
    assert len(script.seen) == 3


def test_a_post_is_retried_on_503_and_429_but_not_on_502_or_a_dropped_connection() -> None:
    token = {"token": "dl_x", "id": 1, "name": "sdk", "scope": None, "expires_at": None}
    made = Answer(200, json.dumps(token).encode(), {"Content-Type": "application/json"})
    waits: list[float] = []
    too_many = Answer(429, b"", {"Retry-After": "3"})
    answers = (busy(None), too_many, made, Answer(502), DROP)
    with scripted(*answers) as (url, script), Client(url, sleep=waits.append) as client:
        # A login is a POST: the server said it did not act, so it is sent again.
        assert client.login("alice", "password").token == "dl_x"
        assert client.token == "dl_x"  # the client goes on with it
        with pytest.raises(ServerError) as gateway:
            client.login("alice", "password")
        with pytest.raises(NetworkError):
            client.login("alice", "password")
    assert gateway.value.status == 502
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and waits[1] == 3.0
    assert [seen.method for seen in script.seen] == ["POST"] * 5


def test_a_get_is_retried_when_the_connection_drops() -> None:
    waits: list[float] = []
    with scripted(DROP, Answer(502), OK) as (url, _), Client(url, sleep=waits.append) as client:
        assert client.get_licence(11).id == 11
    assert len(waits) == 2


def test_a_long_retry_after_is_raised_not_waited_for() -> None:
    waits: list[float] = []
    with (
        scripted(Answer(429, b"", {"Retry-After": "3600"})) as (url, _),
        Client(url, sleep=waits.append) as client,
        pytest.raises(TooManyRequests) as caught,
    ):
        client.login("alice", "wrong")
    assert waits == [] and caught.value.retry_after == 3600.0


def test_a_body_from_a_file_is_sent_again_from_its_start(tmp_path: Path) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: several chunks
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    written = {
        "version": 1,
        "outcome": "added",
        "entry": {
            "kind": "file",
            "path": "f",
            "size": len(data),
            "sha256": "0" * 64,
            "media_type": "application/octet-stream",
            "version": 1,
            "metadata": None,
            "target": None,
        },
    }
    answers = (busy("1"), Answer(201, json.dumps(written).encode()))
    progress: list[int] = []
    with scripted(*answers) as (url, script), Client(url, sleep=lambda _: None) as client:
        result = client.upload_file("a/b", "f", path, progress=progress.append)
    assert result.outcome == "added"
    assert [seen.body for seen in script.seen] == [data, data]
    assert script.seen[1].headers["content-length"] == str(len(data))
    assert sum(progress) == len(data)  # bytes sent twice are counted once


def test_the_async_client_retries_the_same_way() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def main(url: str) -> str:
        async with AsyncClient(url, sleep=record) as client:
            return (await client.get_licence("mit")).name

    with scripted(busy("2"), DROP, OK) as (url, script):
        assert asyncio.run(main(url)) == "MIT"
    assert waits[0] == 2.0 and 0.25 <= waits[1] <= 1.0 and len(script.seen) == 3
