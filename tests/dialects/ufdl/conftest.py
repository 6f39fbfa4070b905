"""Fixtures for the UFDL dialect: raw HTTP clients that log in and send requests the way
the real python client (``ufdl.pythonclient``) does, against the session's live server.

The client is not on PyPI; what it sends was read from its source and captured against a
dev server, and is pinned here request by request (docs/ufdl.md, "Testing").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, User
from tests.support import LiveServer, unique


@dataclass
class Ufdl:
    """One logged-in UFDL client: ``http`` sends ``Authorization: Bearer <access>``."""

    username: str
    http: httpx.Client
    tokens: dict[str, str]

    def list(self, url: str, spec: dict[str, Any] | None = None) -> httpx.Response:
        """The client's list: an empty body with no Content-Type when there is no filter."""
        if spec is None:
            return self.http.post(f"{url}/list", content=b"")
        return self.http.post(f"{url}/list", json=spec)


UfdlLogin = Callable[..., Ufdl]


def obtain(server: LiveServer, username: str, password: str) -> dict[str, str]:
    response = httpx.post(
        server.url + "/v1/auth/obtain",
        json={"username": username, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


@pytest.fixture
def ufdl_login(server: LiveServer) -> Iterator[UfdlLogin]:
    """``ufdl_login(username, password)``: a client holding a fresh token pair."""
    clients: list[httpx.Client] = []

    def login(username: str, password: str) -> Ufdl:
        tokens = obtain(server, username, password)
        http = httpx.Client(
            base_url=server.url + "/v1",
            headers={"Authorization": f"Bearer {tokens['access']}"},
            timeout=30,
        )
        clients.append(http)
        return Ufdl(username, http, tokens)

    yield login
    for http in clients:
        http.close()


@pytest.fixture
def ufdl_admin(ufdl_login: UfdlLogin) -> Ufdl:
    return ufdl_login("admin", ADMIN_PASSWORD)


@pytest.fixture
def as_user(ufdl_login: UfdlLogin) -> Callable[[User], Ufdl]:
    return lambda user: ufdl_login(user.username, user.password)


@pytest.fixture
def team(ufdl_admin: Ufdl) -> dict[str, Any]:
    """A fresh team, made by the site admin, with no members yet."""
    made = ufdl_admin.http.post("/teams/create", json={"name": unique("team")})
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def add_member(admin: Ufdl, team_id: int, username: str, level: str) -> None:
    response = admin.http.patch(
        f"/teams/{team_id}/memberships",
        json={"method": "add", "username": username, "permissions": level},
    )
    assert response.status_code == 200, response.text
