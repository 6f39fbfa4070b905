"""The access rule over HTTP: who may read, write and administer a dataset, and whether the
listing of datasets agrees with access to each one.

Principals: anonymous, a stranger (logged in, no relation), members of the team that owns
the dataset's project at levels R, X, W and A, the owner, and a site admin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import User
from tests.support import unique

PRINCIPALS = ("anonymous", "stranger", "R", "X", "W", "A", "owner", "site_admin")

OK = "ok"  # the operation succeeds; its success status is in SUCCESS below

# The expected outcome of each kind of operation, per dataset visibility and principal:
# (read, write, admin). Those who may not read a private dataset must not learn it exists.
EXPECTED: dict[str, dict[str, tuple[int | str, int | str, int | str]]] = {
    "private": {
        "anonymous": (404, 404, 404),
        "stranger": (404, 404, 404),
        "R": (OK, 403, 403),
        "X": (OK, 403, 403),
        "W": (OK, OK, 403),
        "A": (OK, OK, OK),
        "owner": (OK, OK, OK),
        "site_admin": (OK, OK, OK),
    },
    "public": {
        "anonymous": (OK, 401, 401),
        "stranger": (OK, 403, 403),
        "R": (OK, 403, 403),
        "X": (OK, 403, 403),
        "W": (OK, OK, 403),
        "A": (OK, OK, OK),
        "owner": (OK, OK, OK),
        "site_admin": (OK, OK, OK),
    },
}

# Operations by kind, with the status each returns on success.
READ_OPS = ("get_dataset", "get_file", "list_files", "list_versions")
WRITE_OPS = ("put_file", "patch_description")
ADMIN_OPS = ("patch_visibility", "delete")
SUCCESS = {
    "get_dataset": 200,
    "get_file": 200,
    "list_files": 200,
    "list_versions": 200,
    "put_file": 201,
    "patch_description": 200,
    "patch_visibility": 200,
    "delete": 204,
}

FILE_CONTENT = b"matrix file\n"


@dataclass
class World:
    owner: User
    clients: dict[str, httpx.Client]
    project: str


def build_world(make_user: Callable[..., User], anon: httpx.Client) -> World:
    """The owner's team with one member per level, and a project in it."""
    owner = make_user("owner")
    users = {level: make_user(f"m{level.lower()}") for level in ("R", "X", "W", "A")}
    team, project = unique("team"), unique("proj")
    made = owner.client.post("/teams", json={"name": team})
    assert made.status_code == 201, made.text
    for level, user in users.items():
        member = owner.client.put(f"/teams/{team}/members/{user.username}", json={"level": level})
        assert member.status_code == 200, member.text
        assert member.json()["level"] == level
    made = owner.client.post(f"/teams/{team}/projects", json={"name": project})
    assert made.status_code == 201, made.text
    site_admin = make_user("root", is_admin=True)
    clients = {
        "anonymous": anon,
        "stranger": make_user("stranger").client,
        **{level: user.client for level, user in users.items()},
        "owner": owner.client,
        "site_admin": site_admin.client,
    }
    assert set(clients) == set(PRINCIPALS)
    return World(owner, clients, f"{team}/{project}")


def make_dataset(world: World, visibility: str, *, in_project: bool = True) -> str:
    name = unique(f"{visibility}-")
    body: dict[str, Any] = {"name": name, "visibility": visibility}
    if in_project:
        body["project"] = world.project
    made = world.owner.client.post("/datasets", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["project"] == (world.project if in_project else None)
    path = f"/datasets/{world.owner.username}/{name}"
    put = world.owner.client.put(f"{path}/files/data.txt", content=FILE_CONTENT)
    assert put.status_code == 201, put.text
    return path


def perform(client: httpx.Client, op: str, path: str, visibility: str, tag: str) -> int:
    """Do ``op`` on the dataset at ``path`` and return the status; successful operations are
    checked to have really happened (or, for reads, to return the right thing)."""
    if op == "get_dataset":
        response = client.get(path)
        if response.status_code == 200:
            assert response.json()["visibility"] == visibility
    elif op == "get_file":
        response = client.get(f"{path}/files/data.txt")
        if response.status_code == 200:
            assert response.content == FILE_CONTENT
    elif op == "list_files":
        response = client.get(f"{path}/files")
        if response.status_code == 200:
            assert "data.txt" in [item["path"] for item in response.json()["items"]]
    elif op == "list_versions":
        response = client.get(f"{path}/versions", params={"limit": 1})
        if response.status_code == 200:
            assert response.json()["items"][0]["number"] >= 1
    elif op == "put_file":
        response = client.put(f"{path}/files/by-{tag}.txt", content=tag.encode())
        if response.status_code == 201:
            assert response.json()["outcome"] == "added"
    elif op == "patch_description":
        response = client.patch(path, json={"description": f"edited by {tag}"})
        if response.status_code == 200:
            assert response.json()["description"] == f"edited by {tag}"
    elif op == "patch_visibility":
        # Setting the current value still needs admin rights, and keeps the matrix stable.
        response = client.patch(path, json={"visibility": visibility})
        if response.status_code == 200:
            assert response.json()["visibility"] == visibility
    elif op == "delete":
        response = client.delete(path)
    else:
        raise AssertionError(op)
    return response.status_code


def expected_status(visibility: str, principal: str, op: str) -> int:
    read, write, admin = EXPECTED[visibility][principal]
    outcome = read if op in READ_OPS else write if op in WRITE_OPS else admin
    return SUCCESS[op] if outcome == OK else int(outcome)


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_access_matrix(visibility: str, make_user: Callable[..., User], anon: httpx.Client) -> None:
    world = build_world(make_user, anon)
    path = make_dataset(world, visibility)
    owner = world.owner.client

    observed: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for principal in PRINCIPALS:
        client = world.clients[principal]
        for op in (*READ_OPS, *WRITE_OPS, *ADMIN_OPS):
            status = perform(client, op, path, visibility, principal)
            observed[principal, op] = status
            expected[principal, op] = expected_status(visibility, principal, op)
            if op == "delete" and status == 204:
                # The next principal needs the dataset back.
                assert owner.get(path).status_code == 404
                restored = owner.post(f"{path}/restore")
                assert restored.status_code == 200, restored.text
    mismatches = {
        key: (observed[key], want) for key, want in expected.items() if observed[key] != want
    }
    assert mismatches == {}, "(principal, op): (observed, expected)"

    # Writes that were refused left no trace; the accepted ones are all there.
    writers = [p for p in PRINCIPALS if EXPECTED[visibility][p][1] == OK]
    files = owner.get(f"{path}/files").json()["items"]
    assert sorted(item["path"] for item in files) == sorted(
        ["data.txt", *(f"by-{p}.txt" for p in writers)]
    )
    head = owner.get(path).json()
    assert head["version"] == 1 + len(writers)
    assert head["description"] == f"edited by {writers[-1]}"
    assert head["visibility"] == visibility


def test_listing_agrees_with_access(make_user: Callable[..., User], anon: httpx.Client) -> None:
    world = build_world(make_user, anon)
    datasets = {
        "private-in-project": make_dataset(world, "private"),
        "public-in-project": make_dataset(world, "public"),
        "private-outside": make_dataset(world, "private", in_project=False),
        "public-outside": make_dataset(world, "public", in_project=False),
    }
    gone = make_dataset(world, "public")
    assert world.owner.client.delete(gone).status_code == 204
    members = {"private-in-project", "public-in-project", "public-outside"}
    readable = {
        "anonymous": {"public-in-project", "public-outside"},
        "stranger": {"public-in-project", "public-outside"},
        "R": members,
        "X": members,
        "W": members,
        "A": members,
        "owner": set(datasets),
        "site_admin": set(datasets),
    }
    name_of = {path.rsplit("/", 1)[1]: key for key, path in datasets.items()}

    for principal in PRINCIPALS:
        client = world.clients[principal]
        response = client.get("/datasets", params={"owner": world.owner.username})
        assert response.status_code == 200, (principal, response.text)
        assert response.json()["next_cursor"] is None
        listed = [name_of.get(item["name"], item["name"]) for item in response.json()["items"]]
        assert sorted(listed) == sorted(readable[principal]), principal
        for key, path in datasets.items():
            status = client.get(path).status_code
            assert status == (200 if key in readable[principal] else 404), (principal, key)

        public = client.get(
            "/datasets", params={"owner": world.owner.username, "visibility": "public"}
        )
        assert {name_of[item["name"]] for item in public.json()["items"]} == {
            "public-in-project",
            "public-outside",
        }
        private = client.get(
            "/datasets", params={"owner": world.owner.username, "visibility": "private"}
        )
        assert {name_of[item["name"]] for item in private.json()["items"]} == {
            key for key in readable[principal] if key.startswith("private")
        }


def test_membership_changes_take_effect_at_once(
    make_user: Callable[..., User], anon: httpx.Client
) -> None:
    """Access follows the current membership, not the one at login."""
    world = build_world(make_user, anon)
    path = make_dataset(world, "private")
    team = world.project.split("/")[0]
    member = make_user("late")
    assert member.client.get(path).status_code == 404
    added = world.owner.client.put(f"/teams/{team}/members/{member.username}", json={"level": "R"})
    assert added.status_code == 200, added.text
    assert member.client.get(path).status_code == 200
    assert member.client.patch(path, json={"description": "x"}).status_code == 403
    promoted = world.owner.client.put(
        f"/teams/{team}/members/{member.username}", json={"level": "W"}
    )
    assert promoted.status_code == 200, promoted.text
    assert member.client.patch(path, json={"description": "x"}).status_code == 200
    removed = world.owner.client.delete(f"/teams/{team}/members/{member.username}")
    assert removed.status_code == 204, removed.text
    assert member.client.get(path).status_code == 404
    listed = member.client.get("/datasets", params={"owner": world.owner.username}).json()
    assert listed["items"] == []
