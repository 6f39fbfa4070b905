"""A server's whole visible state, read through the native API, to compare two servers
that should hold the same data (one restored or imported from the other): written once,
used for both sides of every such comparison.

It also fills a server with a bit of everything the core keeps, through the same API.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import pages, unique

PASSWORD = "walk-password-1"
# An inline-sized file (kept in its blob's row) and two kept in the store.
SIZES = (100, 50_000, 300_000)


def walk(admin: httpx.Client) -> dict[str, Any]:
    """Everything a site admin reads: accounts, teams, every dataset (live ones and each
    owner's deleted ones), every version's files (as the sha256 of the bytes read back)
    and records, tags, and the event log."""
    state: dict[str, Any] = {}
    users = list(pages(admin, "/users"))
    state["users"] = users
    teams = _ok(admin.get("/teams"))
    state["teams"] = {
        team["name"]: {
            "team": team,
            "members": _ok(admin.get(f"/teams/{team['name']}/members")),
            "projects": _ok(admin.get(f"/teams/{team['name']}/projects")),
        }
        for team in teams
    }
    datasets = list(pages(admin, "/datasets"))
    state["datasets"] = {
        f"{d['owner']}/{d['name']}": _dataset(admin, d["owner"], d["name"], d) for d in datasets
    }
    state["deleted"] = sorted(
        (d["owner"], d["name"], d["uid"])
        for user in users
        for d in pages(admin, "/datasets", owner=user["username"], deleted=True)
    )
    state["events"] = _events(admin)
    return state


def _dataset(admin: httpx.Client, owner: str, name: str, view: dict[str, Any]) -> dict[str, Any]:
    base = f"/datasets/{owner}/{name}"
    versions = list(pages(admin, f"{base}/versions"))
    contents = {}
    for version in versions:
        number = version["number"]
        files = list(pages(admin, f"{base}/files", version=number))
        records = list(pages(admin, f"{base}/records", version=number))
        contents[number] = {
            "files": files,
            "bytes": {
                f["path"]: _sha_of(admin, f"{base}/files/{f['path']}", number) for f in files
            },
            "records": records,
            "values": {
                r["path"]: _ok(admin.get(f"{base}/records/{r['path']}", params={"version": number}))
                for r in records
            },
        }
    return {
        "view": view,
        "versions": versions,
        "contents": contents,
        "tags": list(pages(admin, f"{base}/tags")),
    }


def _sha_of(client: httpx.Client, url: str, version: int) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", url, params={"version": version}) as response:
        assert response.status_code == 200, (url, response.status_code)
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def _events(client: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        body = _ok(client.get("/events", params={"after": after, "limit": 1000}))
        events.extend(body["items"])
        if not body["items"]:
            return events
        after = body["items"][-1]["seq"]


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (str(response.url), response.status_code, response.text)
    return response.json()


@dataclass
class Account:
    username: str
    password: str
    token: str


def _made(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201, 204), (str(response.url), response.text)
    return response.json() if response.content else None


def add_user(admin: httpx.Client, prefix: str) -> Account:
    username = unique(prefix)
    _made(admin.post("/users", json={"username": username, "password": PASSWORD}))
    login = {"username": username, "password": PASSWORD, "name": "walk"}
    token = _made(admin.post("/auth/token", json=login))["token"]
    return Account(username, PASSWORD, token)


def as_user(base_url: str, account: Account) -> httpx.Client:
    headers = {"Authorization": f"Bearer {account.token}"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=60)


def fill(base_url: str, admin: httpx.Client) -> dict[str, Account]:
    """Users, a team with members and a project, tokens, public, private and team
    datasets with several versions of files (inline-sized and stored) and records, tags,
    a deleted dataset: through the API of the server at ``base_url`` (its ``/loft/v1``)."""
    alice, bob = add_user(admin, "alice"), add_user(admin, "bob")
    with as_user(base_url, alice) as client, as_user(base_url, bob) as other:
        _made(client.post("/tokens", json={"name": "ci", "expires_in_days": 30}))
        team = unique("team")
        _made(client.post("/teams", json={"name": team, "description": "the team"}))
        _made(client.put(f"/teams/{team}/members/{bob.username}", json={"level": "W"}))
        _made(client.post(f"/teams/{team}/projects", json={"name": "birds"}))
        for name, extra in (
            ("public", {"visibility": "public", "tags": ["open"]}),
            ("private", {"description": "mine", "metadata": {"k": [1, 2]}}),
            ("shared", {"project": f"{team}/birds"}),
        ):
            _made(client.post("/datasets", json={"name": name, **extra}))
            base = f"/datasets/{alice.username}/{name}"
            writer = other if name == "shared" else client
            for round_ in range(3):
                for size in SIZES:
                    path = f"r{round_}/f{size}.bin"
                    _made(writer.put(f"{base}/files/{path}", content=os.urandom(size)))
                value = {"round": round_, "nested": {"list": [1, "two", None, 3.5]}, "s": "é"}
                _made(writer.put(f"{base}/records/rec{round_}", json=value))
            _made(writer.delete(f"{base}/files/r0/f100.bin"))
            _made(writer.put(f"{base}/tags/v1.0", json={"version": 2}))
        _made(client.post("/datasets", json={"name": "gone"}))
        _made(client.put(f"/datasets/{alice.username}/gone/files/a.txt", content=b"bye"))
        assert client.delete(f"/datasets/{alice.username}/gone").status_code == 204
    return {"alice": alice, "bob": bob}
