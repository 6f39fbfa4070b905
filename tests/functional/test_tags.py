"""Named tags: made, moved and deleted by writers, read wherever a version number is."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx

from tests.conftest import User


def write(client: httpx.Client, dataset: str, path: str, data: bytes) -> int:
    response = client.put(f"{dataset}/files/{path}", content=data)
    assert response.status_code in (200, 201), response.text
    number: int = response.json()["version"]
    return number


def tag(client: httpx.Client, dataset: str, name: str, version: int, **kw: Any) -> httpx.Response:
    return client.put(f"{dataset}/tags/{name}", json={"version": version}, **kw)


def events_of(client: httpx.Client, dataset: str) -> list[dict[str, Any]]:
    address = dataset.removeprefix("/datasets/")
    response = client.get("/events", params={"dataset": address, "limit": 1000})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["kind"].startswith("tag.")]


def test_a_tag_is_made_moved_and_deleted(alice: User, dataset: str) -> None:
    write(alice.client, dataset, "a.txt", b"one")
    write(alice.client, dataset, "a.txt", b"two")

    made = tag(alice.client, dataset, "v1.0", 1)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"/loft/v1{dataset}/tags/v1.0"
    assert made.json()["version"] == 1
    assert made.json()["author"] == alice.username

    moved = tag(alice.client, dataset, "v1.0", 2)
    assert moved.status_code == 200
    assert moved.json()["version"] == 2
    assert moved.json()["created"] == made.json()["created"]
    again = tag(alice.client, dataset, "v1.0", 2)  # already there: no event
    assert again.status_code == 200

    assert tag(alice.client, dataset, "latest", 0).status_code == 201
    listed = alice.client.get(f"{dataset}/tags").json()
    assert [(t["name"], t["version"]) for t in listed["items"]] == [("latest", 0), ("v1.0", 2)]
    page = alice.client.get(f"{dataset}/tags", params={"limit": 1}).json()
    assert [t["name"] for t in page["items"]] == ["latest"]
    rest = alice.client.get(f"{dataset}/tags", params={"cursor": page["next_cursor"]}).json()
    assert [t["name"] for t in rest["items"]] == ["v1.0"]

    assert alice.client.delete(f"{dataset}/tags/latest").status_code == 204
    assert alice.client.get(f"{dataset}/tags/latest").status_code == 404
    assert alice.client.delete(f"{dataset}/tags/latest").status_code == 404

    kinds = [
        (e["kind"], e["payload"]["tag"], e["payload"]["version"], e["payload"]["previous"])
        for e in events_of(alice.client, dataset)
    ]
    assert kinds == [
        ("tag.create", "v1.0", 1, None),
        ("tag.move", "v1.0", 2, 1),
        ("tag.create", "latest", 0, None),
        ("tag.delete", "latest", None, 0),
    ]


def test_create_only_and_bad_tags(alice: User, dataset: str) -> None:
    write(alice.client, dataset, "a.txt", b"one")
    star = {"If-None-Match": "*"}
    assert tag(alice.client, dataset, "v1", 1, headers=star).status_code == 201
    refused = tag(alice.client, dataset, "v1", 0, headers=star)
    assert refused.status_code == 412
    assert alice.client.get(f"{dataset}/tags/v1").json()["version"] == 1

    for bad in ("7", "-x", ".hidden", "a b", "é", "x" * 101):
        response = tag(alice.client, dataset, bad, 1)
        assert response.status_code in (400, 404), (bad, response.text)
        assert alice.client.get(f"{dataset}/tags").json()["items"][0]["name"] == "v1"
    assert tag(alice.client, dataset, "7", 1).json()["error"]["code"] == "invalid"
    past = tag(alice.client, dataset, "v2", 5)
    assert past.status_code == 404
    assert "no version 5" in past.json()["error"]["message"]
    assert tag(alice.client, dataset, "v2", -1).status_code == 400
    assert alice.client.put(f"{dataset}/tags/v2", json={"version": "1"}).status_code == 400


def test_a_tag_reads_wherever_a_version_does(alice: User, dataset: str) -> None:
    write(alice.client, dataset, "a.txt", b"one")
    put = alice.client.put(f"{dataset}/records/r", json={"n": 1})
    assert put.status_code == 201
    write(alice.client, dataset, "a.txt", b"two")
    assert tag(alice.client, dataset, "release-1", 2).status_code == 201

    read = alice.client.get(f"{dataset}/files/a.txt", params={"version": "release-1"})
    assert read.content == b"one"
    assert read.headers["x-loft-version"] == "2"
    assert alice.client.get(f"{dataset}/files/a.txt").content == b"two"
    record = alice.client.get(f"{dataset}/records/r", params={"version": "release-1"})
    assert record.json() == {"n": 1}
    files = alice.client.get(f"{dataset}/files", params={"version": "release-1"}).json()
    assert files["version"] == 2
    version = alice.client.get(f"{dataset}/versions/release-1").json()
    assert version["number"] == 2
    assert alice.client.get(f"{dataset}/versions/3").json()["number"] == 3

    diff = alice.client.get(f"{dataset}/diff", params={"from": "release-1", "to": 3}).json()
    assert (diff["from"], diff["to"]) == (2, 3)
    assert [(i["change"], i["path"]) for i in diff["items"]] == [("changed", "a.txt")]

    archive = alice.client.get(f"{dataset}/archive.zip", params={"version": "release-1"})
    assert archive.headers["x-loft-version"] == "2"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        name = dataset.rsplit("/", 1)[1]
        assert zipped.read(f"{name}-v2/a.txt") == b"one"

    # A moved tag reads the new version at once.
    assert tag(alice.client, dataset, "release-1", 3).status_code == 200
    assert alice.client.get(f"{dataset}/files/a.txt", params={"version": "release-1"}).content == (
        b"two"
    )

    missing = alice.client.get(f"{dataset}/files/a.txt", params={"version": "nope"})
    assert missing.status_code == 404
    assert "no tag 'nope'" in missing.json()["error"]["message"]
    bad = alice.client.get(f"{dataset}/files/a.txt", params={"version": "a b"})
    assert bad.status_code == 400
    assert alice.client.get(f"{dataset}/diff", params={"from": "x y"}).status_code == 400


def test_tags_follow_the_dataset_access_rule(
    alice: User, bob: User, anon: httpx.Client, dataset: str
) -> None:
    write(alice.client, dataset, "a.txt", b"one")
    assert tag(alice.client, dataset, "v1", 1).status_code == 201

    # Private: nobody else learns the tag, or that the dataset exists.
    for client in (bob.client, anon):
        assert client.get(f"{dataset}/tags").status_code == 404
        assert client.get(f"{dataset}/tags/v1").status_code == 404
        assert client.get(f"{dataset}/files/a.txt", params={"version": "v1"}).status_code == 404
        assert tag(client, dataset, "v2", 1).status_code == 404
        assert client.delete(f"{dataset}/tags/v1").status_code == 404

    owner_name = dataset.removeprefix("/datasets/")
    public = alice.client.patch(dataset, json={"visibility": "public"})
    assert public.status_code == 200, public.text
    assert bob.client.get(f"{dataset}/tags/v1").json()["version"] == 1
    assert anon.get(f"{dataset}/files/a.txt", params={"version": "v1"}).content == b"one"
    assert tag(bob.client, dataset, "v1", 0).status_code == 403
    assert bob.client.delete(f"{dataset}/tags/v1").status_code == 403
    assert tag(anon, dataset, "v1", 0).status_code == 401
    assert alice.client.get(f"{dataset}/tags/v1").json()["version"] == 1
    assert owner_name.startswith(alice.username)
