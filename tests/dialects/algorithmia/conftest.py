"""Fixtures for the Algorithmia dialect: raw HTTP clients that authenticate the way the
real clients do, against the session's live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import User
from tests.support import LiveServer, unique

AlgoClient = Callable[..., httpx.Client]


@pytest.fixture
def algo(server: LiveServer) -> Iterator[AlgoClient]:
    """``algo(user, scheme="Simple")``: an httpx client on the server's root whose
    requests carry ``Authorization: <scheme> <token>`` (scheme "" sends the bare key, as
    the Python client does)."""
    clients: list[httpx.Client] = []

    def factory(user: User | None, scheme: str = "Simple") -> httpx.Client:
        headers = {}
        if user is not None:
            headers["Authorization"] = f"{scheme} {user.token}".strip()
        client = httpx.Client(base_url=server.url, headers=headers, timeout=30)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def collection(algo: AlgoClient, alice: User) -> str:
    """A fresh collection of alice's (default ACL); returns its name."""
    name = unique("coll")
    response = algo(alice).post("/v1/data/.my", json={"name": name})
    assert response.status_code == 200, response.text
    return name
