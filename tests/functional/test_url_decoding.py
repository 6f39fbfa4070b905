"""A URL whose percent-escapes do not decode as UTF-8 is a 400 naming the problem, in the
error shape of the dialect that owns the path, never a request for whatever U+FFFD-laden
name the server's lenient decoding makes of it. Valid escapes (a real U+FFFD included) still
name what they encode."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import User
from tests.support import LiveServer, unique

# (label, escapes that are not UTF-8, the bytes the message quotes)
BAD = [
    ("lone-bytes", "%ff%fe", "%FF"),
    ("continuation-without-lead", "a%80b", "%80"),
    ("truncated", "euro%E2%82", "%E2%82"),
    ("overlong-dot", "%C0%AE%C0%AE", "%C0"),
    ("surrogate", "%ED%A0%80", "%ED"),
    ("beyond-unicode", "%F4%90%80%80", "%F4"),
]
BAD_IDS = [label for label, _, _ in BAD]


def says_why(message: str, part: str, quoted: str) -> None:
    assert f"invalid percent-encoded UTF-8 in the URL {part}" in message, message
    assert quoted in message


@pytest.fixture
def raw(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# --- native API ------------------------------------------------------------------------------


@pytest.mark.parametrize(("escaped", "quoted"), [b[1:] for b in BAD], ids=BAD_IDS)
def test_native_paths(alice: User, dataset: str, escaped: str, quoted: str) -> None:
    for response in (
        alice.client.get(f"{dataset}/files/{escaped}"),
        alice.client.put(f"{dataset}/files/{escaped}", content=b"x"),
        alice.client.get(f"{dataset}/records/{escaped}"),
    ):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid"
        says_why(error["message"], "path", quoted)
    listing = alice.client.get(f"{dataset}/files")
    assert listing.json()["items"] == []  # nothing was written


def test_native_the_brief_example(raw: httpx.Client) -> None:
    # Refused before any route runs: no dataset, no credentials needed to learn it.
    response = raw.get("/loft/v1/datasets/a/b/files/%ff%fe")
    assert response.status_code == 400
    assert response.headers["x-content-type-options"] == "nosniff"
    says_why(response.json()["error"]["message"], "path", "%FF")


def test_native_query(alice: User, dataset: str) -> None:
    response = alice.client.get(f"{dataset}/files?prefix=caf%E9")  # Latin-1, not UTF-8
    assert response.status_code == 400
    says_why(response.json()["error"]["message"], "query", "%E9")


def test_valid_escapes_still_work(alice: User, dataset: str) -> None:
    # U+FFFD itself, spelled correctly, is a name like any other; so are other characters.
    for escaped, path in (("%EF%BF%BD.txt", "\ufffd.txt"), ("caf%C3%A9/%E2%82%AC", "café/€")):
        put = alice.client.put(f"{dataset}/files/{escaped}", content=path.encode())
        assert put.status_code == 201, put.text
        assert put.json()["entry"]["path"] == path
        got = alice.client.get(f"{dataset}/files/{escaped}")
        assert got.status_code == 200
        assert got.content == path.encode()
    prefixed = alice.client.get(f"{dataset}/files?prefix=caf%C3%A9")
    assert [item["path"] for item in prefixed.json()["items"]] == ["café/€"]


# --- Algorithmia -----------------------------------------------------------------------------


@pytest.mark.parametrize(("escaped", "quoted"), [b[1:] for b in BAD], ids=BAD_IDS)
def test_algorithmia_paths(raw: httpx.Client, alice: User, escaped: str, quoted: str) -> None:
    headers = {"Authorization": f"Simple {alice.token}"}
    collection = unique("coll")
    created = raw.post("/v1/data/.my", json={"name": collection}, headers=headers)
    assert created.status_code == 200, created.text
    for method in ("GET", "PUT", "DELETE"):
        url = f"/v1/data/.my/{collection}/{escaped}"
        response = raw.request(method, url, content=b"x", headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        says_why(error["message"], "path", quoted)
        assert "invalid percent-encoded UTF-8" in response.headers["x-error-message"]
    listing = raw.get(f"/v1/data/.my/{collection}", headers=headers)
    assert "files" not in listing.json()


# --- Pigeon Optics ---------------------------------------------------------------------------


@pytest.mark.parametrize(("escaped", "quoted"), [b[1:] for b in BAD], ids=BAD_IDS)
def test_pigeon_paths(raw: httpx.Client, alice: User, escaped: str, quoted: str) -> None:
    auth = (alice.username, alice.password)
    headers = {"Accept": "application/json"}
    name = unique("ds")
    created = raw.put("/datasets/create", json={"name": name}, auth=auth, headers=headers)
    assert created.status_code == 303, created.text
    url = f"/datasets/{alice.username}:{name}/records/{escaped}"
    for response in (
        raw.get(url, headers=headers),
        raw.put(url, json={"a": 1}, auth=auth, headers=headers),
    ):
        assert response.status_code == 400, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        body = response.json()
        assert body["stack"] is False
        says_why(body["error"], "path", quoted)
    index = raw.get(f"/datasets/{alice.username}:{name}/records/", headers=headers)
    assert index.status_code == 200
    assert index.json() == {}
