"""``POST /loft/v1/blobs/batch``: many blobs in one tar stream, each named by its sha256."""

from __future__ import annotations

import io
import os
import tarfile
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from dataloft.core.blobs import TOUCH_AGAIN_AFTER
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.types import utcnow
from tests.conftest import User
from tests.support import sha

TAR = {"Content-Type": "application/x-tar"}


def tar_of(
    members: dict[str, bytes],
    *,
    mode: str = "w",
    symlink: str | None = None,
    twice: bool = False,
) -> bytes:
    out = io.BytesIO()
    pairs = list(members.items()) * (2 if twice else 1)
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in pairs:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink is not None:
            link = tarfile.TarInfo(symlink)
            link.type, link.linkname = tarfile.SYMTYPE, "elsewhere"
            archive.addfile(link)
    return out.getvalue()


def named(*contents: bytes) -> dict[str, bytes]:
    return {sha(data): data for data in contents}


def send(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/blobs/batch", content=body, headers=TAR)


def missing(client: httpx.Client, digests: list[str]) -> list[str]:
    response = client.post("/blobs/missing", json={"sha256": digests})
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["missing"]
    return found


def test_a_batch_stores_every_member_and_a_commit_names_them(alice: User, dataset: str) -> None:
    small = [b"small %d" % n for n in range(50)]
    large = bytes(range(256)) * 400  # over the inline limit: goes to the blob store
    members = named(*small, large)
    response = send(alice.client, tar_of(members))
    assert response.status_code == 200, response.text
    stored = response.json()["stored"]
    assert [(s["sha256"], s["size"], s["created"]) for s in stored] == [
        (digest, len(data), True) for digest, data in members.items()
    ]
    assert missing(alice.client, list(members)) == []

    changes = [
        {"op": "put_file", "path": f"f/{n}.bin", "sha256": digest}
        for n, digest in enumerate(members)
    ]
    commit = alice.client.post(f"{dataset}/commits", json={"changes": changes})
    assert commit.status_code == 201, commit.text
    assert alice.client.get(f"{dataset}/files/f/50.bin").content == large
    assert alice.client.get(f"{dataset}/files/f/3.bin").content == small[3]

    again = send(alice.client, tar_of(members))
    assert [s["created"] for s in again.json()["stored"]] == [False] * len(members)


def test_a_compressed_batch_and_folders(alice: User) -> None:
    data = [b"gz %d" % n for n in range(3)]
    members = {f"some/folder/{sha(d)}": d for d in data}
    response = send(alice.client, tar_of(members, mode="w:gz"))
    assert response.status_code == 200, response.text
    assert [s["sha256"] for s in response.json()["stored"]] == [sha(d) for d in data]


@pytest.mark.parametrize(
    "case", ["wrong-bytes", "not-a-digest", "symlink", "not-tar", "truncated", "twice"]
)
def test_a_bad_member_is_a_400_naming_it(alice: User, case: str) -> None:
    good = b"good bytes for %s" % case.encode()
    members = named(good)
    symlink = None
    if case == "wrong-bytes":
        members[sha(b"other")] = b"not other"
    elif case == "not-a-digest":
        members["photo.jpg"] = b"x"
    elif case == "symlink":
        symlink = "a" * 64
    body = tar_of(members, symlink=symlink)
    if case == "not-tar":
        body = b"this is no tar archive" * 100
    elif case == "truncated":
        body = body[:700]
    elif case == "twice":
        body = tar_of(members, twice=True)
    response = send(alice.client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid"
    message = response.json()["error"]["message"]
    if case == "wrong-bytes":
        assert sha(b"other") in message
    elif case == "not-a-digest":
        assert "photo.jpg" in message
    elif case == "symlink":
        assert "symlink" in message
    # What came before the refused member was stored, and is the uploader's.
    if case in ("wrong-bytes", "not-a-digest", "symlink"):
        assert missing(alice.client, [sha(good)]) == []
    if case == "wrong-bytes":
        assert missing(alice.client, [sha(b"other"), sha(b"not other")]) == [
            sha(b"other"),
            sha(b"not other"),
        ]


def test_a_batch_needs_an_uploader(alice: User, anon: httpx.Client) -> None:
    body = tar_of(named(b"anonymous bytes"))
    assert send(anon, body).status_code == 401
    scoped = alice.client.post("/tokens", json={"name": "ro", "scope": "read"})
    assert scoped.status_code == 201, scoped.text
    headers = {**TAR, "Authorization": f"Bearer {scoped.json()['token']}"}
    url = str(alice.client.base_url).rstrip("/") + "/blobs/batch"
    assert httpx.post(url, content=body, headers=headers).status_code == 403
    assert alice.client.put("/blobs/batch", content=body).status_code == 405
    assert alice.client.head("/blobs/batch").status_code == 405


def test_at_most_ten_thousand_members(alice: User) -> None:
    members = named(*(b"%d" % n for n in range(10_001)))
    response = send(alice.client, tar_of(members))
    assert response.status_code == 413, response.text
    assert "10000 members" in response.json()["error"]["message"]


def test_sending_held_bytes_again_touches_them_only_when_stale(alice: User, loft: Loft) -> None:
    """A re-upload keeps the blob from collection: a row touched long ago is touched
    again, one touched just now is left as it is (rewriting it would rewrite its bytes)."""
    old, recent = os.urandom(4000), os.urandom(4000)
    assert send(alice.client, tar_of(named(old, recent))).status_code == 200
    long_ago = utcnow() - timedelta(seconds=TOUCH_AGAIN_AFTER + 60)
    just_now = utcnow() - timedelta(seconds=60)
    age(loft, {sha(old): long_ago, sha(recent): just_now})

    assert send(alice.client, tar_of(named(old, recent))).status_code == 200
    touched = ages(loft, [sha(old), sha(recent)])
    assert touched[sha(old)] > just_now  # touched again
    assert touched[sha(recent)] == just_now  # left alone

    age(loft, {sha(old): long_ago})
    assert missing(alice.client, [sha(old), sha(recent)]) == []  # a probe's hit counts too
    assert ages(loft, [sha(old)])[sha(old)] > just_now


def age(loft: Loft, touched: dict[str, datetime]) -> None:
    with loft.db.write() as session:
        for digest, when in touched.items():
            session.execute(update(Blob).where(Blob.digest == digest).values(touched=when))


def ages(loft: Loft, digests: list[str]) -> dict[str, datetime]:
    with loft.db.read() as session:
        rows = session.execute(select(Blob.digest, Blob.touched).where(Blob.digest.in_(digests)))
        return {digest: when for digest, when in rows}
