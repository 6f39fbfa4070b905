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


@dataclass
class Workspace:
    """A team with a project, and the site admin's client that made them."""

    admin: Ufdl
    team: dict[str, Any]
    project: dict[str, Any]

    def join(self, username: str, level: str) -> None:
        add_member(self.admin, self.team["pk"], username, level)


@pytest.fixture
def workspace(ufdl_admin: Ufdl) -> Workspace:
    team = ufdl_admin.http.post("/teams/create", json={"name": unique("team")}).json()
    project = ufdl_admin.http.post(
        "/projects/create", json={"name": unique("proj"), "team": team["pk"]}
    )
    assert project.status_code == 201, project.text
    return Workspace(ufdl_admin, team, project.json())


MIT = 11


def new_dataset(
    client: Ufdl, project: int, name: str | None = None, **fields: Any
) -> dict[str, Any]:
    """What the client's ``dataset.create`` sends."""
    body = {
        "name": name or unique("ds"),
        "project": project,
        "description": "",
        "licence": MIT,
        "is_public": False,
        "tags": "",
        **fields,
    }
    made = client.http.post("/datasets/create", json=body)
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def domain_dataset(client: Ufdl, prefix: str, project: int, **fields: Any) -> dict[str, Any]:
    """A dataset made under a domain's prefix (``classify``, ``objdet``, ...)."""
    body = {
        "name": unique(prefix),
        "project": project,
        "licence": MIT,
        "tags": "",
        "description": "",
        "is_public": False,
        **fields,
    }
    made = client.http.post(f"/{prefix}/datasets/create", json=body)
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def upload(client: Ufdl, pk: int, filename: str, data: bytes, prefix: str = "") -> httpx.Response:
    """What the client's ``add_file`` sends: the raw bytes, named in the URL and in
    ``Content-Disposition``, as ``application/data``."""
    return client.http.post(
        f"{prefix}/datasets/{pk}/files/{filename}",
        content=data,
        headers={
            "Content-Disposition": f"attachment; filename={filename}",
            "Content-Type": "application/data",
        },
    )


@pytest.fixture
def writer(workspace: Workspace, as_user: Callable[[User], Ufdl], alice: User) -> Ufdl:
    """Alice, a W member of the workspace's team, logged in."""
    workspace.join(alice.username, "W")
    return as_user(alice)


def refused(response: httpx.Response, status: int, *words: str) -> None:
    """A refusal with this status, whose detail holds these words."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
