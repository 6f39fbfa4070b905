"""Client.events(): the live stream outlives its server. Events committed while the server
is down arrive, once each, when a server is back on the same port; ``event: close`` ends
the stream with StreamClosed. And list_events() reads the same log from JSON pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.changes import PutRecord
from dataloft.core.loft import Loft
from dataloft_client import AsyncClient, Client, Event, StreamClosed
from tests.conftest import User
from tests.support import LiveServer, unique


@pytest.fixture
def servers(settings: Settings, loft: Loft) -> Iterator[list[LiveServer]]:
    """Servers of the test's own on the session's core; stopped at the end."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


def test_events_resume_after_the_server_restarts_with_nothing_lost_or_repeated(
    settings: Settings, loft: Loft, alice: User, servers: list[LiveServer]
) -> None:
    servers.append(LiveServer(create_app(settings, loft)).start())
    port = servers[0].port
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        """The client's wait before reconnecting: the second time it waits (the server
        has been down for one attempt), a new server comes up on the same port."""
        waits.append(seconds)
        if len(waits) == 2:
            servers.append(LiveServer(create_app(settings, loft), port=port).start())

    with Client(servers[0].url, alice.token, sleep=sleep) as client:
        repo = client.create_dataset(unique("ev")).repo
        owner, name = repo.split("/")
        (created,) = client.list_events(dataset=repo)
        stream = client.events(dataset=repo, after=created.seq)
        client.put_record(repo, "a", 1)
        client.put_record(repo, "b", 2)
        got = [next(stream), next(stream)]

        servers[0].stop()
        for record_id in ("c", "d"):  # while no server runs
            loft.commits.commit(SYSTEM, owner, name, [PutRecord(record_id, 0)])
        got += [next(stream), next(stream)]
        assert len(waits) == 2 and len(servers) == 2

        client.put_record(repo, "e", 5)  # through the new server
        got.append(next(stream))
        logged = list(client.list_events(dataset=repo, after=created.seq))

    assert all(isinstance(event, Event) for event in got)
    assert [(e.kind, e.version) for e in got] == [("commit", n) for n in range(1, 6)]
    assert [e.seq for e in got] == [e.seq for e in logged]
    authors = [e.payload["author"] for e in got]
    assert authors == [alice.username] * 2 + ["system"] * 2 + [alice.username]


def test_the_server_closing_the_stream_raises_stream_closed(
    server: LiveServer, loft: Loft, alice: User
) -> None:
    made = loft.auth.create_token(SYSTEM, username=alice.username, name="short-lived")
    with Client(server.url, made.secret) as client:
        repo = client.create_dataset(unique("ev")).repo
        stream = client.events(dataset=repo, after=0)
        assert next(stream).kind == "dataset.create"
        loft.auth.revoke_token(SYSTEM, made.token.id)
        with pytest.raises(StreamClosed) as closed:
            next(stream)
    assert "revoked" in closed.value.reason


def test_the_async_stream_gives_the_same_events(server: LiveServer, alice: User) -> None:
    async def main() -> list[tuple[str, int | None]]:
        async with AsyncClient(server.url, alice.token) as client:
            repo = (await client.create_dataset(unique("ev"))).repo
            await client.put_record(repo, "a", 1)
            seen = []
            async for event in client.events(dataset=repo, after=0):
                seen.append((event.kind, event.version))
                if len(seen) == 2:
                    break
            return seen

    assert asyncio.run(main()) == [("dataset.create", 0), ("commit", 1)]
