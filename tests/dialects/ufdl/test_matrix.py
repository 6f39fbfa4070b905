"""UFDL's permission matrix (its reference §4.5), pinned for every role and every dataset
action, with dataloft's deliberate differences: those who may not see a dataset get 404
(UFDL: 403), a public dataset's files are readable by anyone (UFDL: members only), and
the two escalations are closed: an X member writes through a node only when the node's
owner belongs to the team, and moving a dataset needs W in the destination team.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import ADMIN_PASSWORD
from tests.dialects.ufdl.conftest import MIT, obtain
from tests.support import LiveServer, unique

ROLES = ["anonymous", "stranger", "R", "X", "X+node", "X+foreign node", "W", "A", "admin"]
SEERS = {"R", "X", "X+node", "X+foreign node", "W", "A", "admin"}
WRITERS = {"X+node", "W", "A", "admin"}
MANAGERS = {"W", "A", "admin"}


@dataclass
class Team:
    server: LiveServer
    project: int
    project_team: int
    tokens: dict[str, str]
    nodes: dict[str, int]
    admin: httpx.Client
    clients: dict[str, httpx.Client]

    def client(self, role: str) -> httpx.Client:
        """The role's client (one per role, closed with the module's team)."""
        if role == "admin":
            return self.admin
        if role not in self.clients:
            headers: dict[str, str] = {}
            if role != "anonymous":
                user = {"X+node": "X", "X+foreign node": "X"}.get(role, role)
                headers["Authorization"] = f"Bearer {self.tokens[user]}"
            if role in self.nodes:
                headers["Node-Id"] = str(self.nodes[role])
            self.clients[role] = httpx.Client(
                base_url=self.server.url + "/v1", headers=headers, timeout=30
            )
        return self.clients[role]


@pytest.fixture(scope="module")
def team(server: LiveServer, loft: Loft) -> Iterator[Team]:
    access = obtain(server, "admin", ADMIN_PASSWORD)["access"]
    admin = httpx.Client(
        base_url=server.url + "/v1", headers={"Authorization": f"Bearer {access}"}, timeout=30
    )
    made = admin.post("/teams/create", json={"name": unique("matrix")}).json()
    project = admin.post("/projects/create", json={"name": "p", "team": made["pk"]}).json()
    tokens: dict[str, str] = {}
    for role in ("stranger", "R", "X", "W", "A"):
        username = unique(role.lower())
        loft.accounts.create_user(SYSTEM, username, "pw-" + unique())
        tokens[role] = loft.auth.create_token(SYSTEM, username=username, name="t").secret
        if role != "stranger":
            admin.patch(
                f"/teams/{made['pk']}/memberships",
                json={"method": "add", "username": username, "permissions": role},
            ).raise_for_status()
    nodes = {}
    for role, owner in (("X+node", "W"), ("X+foreign node", "stranger")):
        node = httpx.post(
            server.url + "/v1/nodes/create",
            json={"ip": "10.1.1.1", "index": 0},
            headers={"Authorization": f"Bearer {tokens[owner]}"},
        )
        nodes[role] = node.json()["pk"]
    found = Team(server, project["pk"], made["pk"], tokens, nodes, admin, {})
    yield found
    for client in (admin, *found.clients.values()):
        client.close()


def _dataset(team: Team, public: bool = False) -> int:
    made = team.admin.post(
        "/datasets/create",
        json={
            "name": unique("m"),
            "project": team.project,
            "licence": MIT,
            "tags": "",
            "is_public": public,
        },
    )
    pk: int = made.json()["pk"]
    team.admin.post(
        f"/datasets/{pk}/files/a.txt",
        content=b"a",
        headers={"Content-Disposition": "attachment; filename=a.txt"},
    ).raise_for_status()
    return pk


Send = Callable[[httpx.Client, int, Team], httpx.Response]
ACTIONS: dict[str, tuple[str, int, Send]] = {
    # name: (who may: "see" | "copy" | "write" | "manage" | "admin", success status, request)
    "retrieve": ("see", 200, lambda c, pk, t: c.get(f"/datasets/{pk}")),
    "get file": ("see", 200, lambda c, pk, t: c.get(f"/datasets/{pk}/files/a.txt")),
    "download": ("see", 200, lambda c, pk, t: c.post(f"/datasets/{pk}/download", json={})),
    "get metadata": ("see", 200, lambda c, pk, t: c.get(f"/datasets/{pk}/metadata/a.txt")),
    "all metadata": ("see", 200, lambda c, pk, t: c.get(f"/datasets/{pk}/metadata")),
    "copy": ("copy", 200, lambda c, pk, t: c.post(f"/datasets/{pk}/copy", json={})),
    "partial update": (
        "write",
        200,
        lambda c, pk, t: c.patch(f"/datasets/{pk}", json={"description": "d"}),
    ),
    "update": (
        "write",
        200,
        lambda c, pk, t: c.put(
            f"/datasets/{pk}",
            json={"name": unique("n"), "project": t.project, "licence": MIT, "tags": "t"},
        ),
    ),
    "clear": ("write", 200, lambda c, pk, t: c.delete(f"/datasets/{pk}/clear")),
    "merge": (
        "write",
        200,
        lambda c, pk, t: c.post(f"/datasets/{pk}/merge/{pk}", json={"delete": False}),
    ),
    "add file": (
        "write",
        200,
        lambda c, pk, t: c.post(
            f"/datasets/{pk}/files/b.txt",
            content=b"b",
            headers={"Content-Disposition": "attachment; filename=b.txt"},
        ),
    ),
    "delete file": ("write", 200, lambda c, pk, t: c.delete(f"/datasets/{pk}/files/a.txt")),
    "set metadata": (
        "write",
        200,
        lambda c, pk, t: c.post(f"/datasets/{pk}/metadata/a.txt", json={"metadata": "x"}),
    ),
    "destroy": ("manage", 204, lambda c, pk, t: c.delete(f"/datasets/{pk}")),
    "hard delete": ("admin", 200, lambda c, pk, t: c.delete(f"/datasets/{pk}/hard")),
    "reinstate": ("admin", 200, lambda c, pk, t: c.delete(f"/datasets/{pk}/reinstate")),
}
MAY = {"see": SEERS, "copy": SEERS, "write": WRITERS, "manage": MANAGERS, "admin": {"admin"}}


def _expected(role: str, rule: str, success: int, public: bool) -> int:
    if rule == "copy" and role in ("anonymous", "stranger"):
        allowed = False
    else:
        allowed = role in MAY[rule] or (rule == "see" and public)
    if allowed:
        return success
    if role not in SEERS and not public:
        return 404  # not shown to exist
    return 401 if role == "anonymous" else 403


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_matrix(team: Team, role: str, action: str, public: bool) -> None:
    rule, success, send = ACTIONS[action]
    pk = _dataset(team, public)
    client = team.client(role)
    response = send(client, pk, team)
    assert response.status_code == _expected(role, rule, success, public), response.text


@pytest.mark.parametrize("role", ROLES)
def test_who_creates_and_who_lists(team: Team, role: str) -> None:
    """Create: W and A themselves (never through a node), site admins; anonymous: 401.
    List: members see their team's private datasets; everyone sees public ones."""
    client = team.client(role)
    body = {"name": unique("c"), "project": team.project, "licence": MIT, "tags": ""}
    made = client.post("/datasets/create", json=body)
    assert made.status_code == (201 if role in MANAGERS else 401 if role == "anonymous" else 403)
    private, public = _dataset(team), _dataset(team, public=True)
    spec: dict[str, Any] = {
        "expressions": [
            {
                "type": "or",
                "sub_expressions": [
                    {"type": "exact", "field": "pk", "value": private},
                    {"type": "exact", "field": "pk", "value": public},
                ],
            },
        ]
    }
    seen = {d["pk"] for d in client.post("/datasets/list", json=spec).json()}
    assert seen == ({private, public} if role in SEERS else {public})


def test_moving_a_dataset_needs_write_in_the_destination(team: Team, loft: Loft) -> None:
    """UFDL let a W member move a dataset into any project; here W is needed there too."""
    elsewhere = team.admin.post("/teams/create", json={"name": unique("other")}).json()
    target = team.admin.post("/projects/create", json={"name": "q", "team": elsewhere["pk"]}).json()
    pk = _dataset(team)
    writer = team.client("W")
    moved = writer.patch(f"/datasets/{pk}", json={"project": target["pk"]})
    assert moved.status_code == 403
    assert team.admin.get(f"/datasets/{pk}").json()["project"] == team.project


def test_read_only_tokens_only_read(team: Team, loft: Loft) -> None:
    """A dataloft token with the read scope, even a site admin's, reads and writes nothing."""
    writer = unique("w")
    loft.accounts.create_user(SYSTEM, writer, "pw-" + unique())
    team.admin.patch(
        f"/teams/{team.project_team}/memberships",
        json={"method": "add", "username": writer, "permissions": "W"},
    ).raise_for_status()
    for username in ("admin", writer):
        token = loft.auth.create_token(SYSTEM, username=username, name="r", scope="read").secret
        pk = _dataset(team)
        with httpx.Client(
            base_url=team.server.url + "/v1", headers={"Authorization": f"Bearer {token}"}
        ) as reader:
            assert reader.get(f"/datasets/{pk}/files/a.txt").status_code == 200
            assert ACTIONS["add file"][2](reader, pk, team).status_code == 403
            assert ACTIONS["destroy"][2](reader, pk, team).status_code == 403
            assert ACTIONS["copy"][2](reader, pk, team).status_code == 403
