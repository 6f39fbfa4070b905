"""Knowing a digest is not owning the bytes (the possession rule, ``core/possession.py``).

A caller may name a blob by its sha256 only if they sent those bytes themselves or may read
a live dataset holding them. Every other digest is as unknown as one the server never saw:
a commit naming it fails with the same message, the probe says 404, and nothing tells the
caller whether the server holds the bytes for somebody else."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import User
from tests.support import sha, unique

SIZES = {"inline": 100, "stored": 50_000}  # under and over the inline limit (4 KiB)


def new_dataset(user: User, **body: object) -> str:
    response = user.client.post("/datasets", json={"name": unique("ds"), **body})
    assert response.status_code == 201, response.text
    return f"/datasets/{user.username}/{response.json()['name']}"


def put_file(user: User, dataset: str, path: str, data: bytes) -> str:
    response = user.client.put(f"{dataset}/files/{path}", content=data)
    assert response.status_code == 201, response.text
    digest: str = response.json()["entry"]["sha256"]
    return digest


def commit_by_digest(user: User, dataset: str, path: str, digest: str) -> httpx.Response:
    change = {"op": "put_file", "path": path, "sha256": digest}
    return user.client.post(f"{dataset}/commits", json={"changes": [change]})


def refusal(response: httpx.Response, digest: str) -> str:
    """The 400 for an unknown blob, with the digest replaced: to compare two refusals."""
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]["message"]
    assert digest in message
    return message.replace(digest, "<digest>")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_commit_cannot_claim_someone_elses_private_file(
    alice: User, bob: User, size: str
) -> None:
    secret = os.urandom(SIZES[size])
    digest = put_file(bob, new_dataset(bob), "secret.bin", secret)
    mine = new_dataset(alice)
    stolen = commit_by_digest(alice, mine, "stolen.bin", digest)
    never = sha(os.urandom(32))
    unknown = commit_by_digest(alice, mine, "stolen.bin", never)
    assert refusal(stolen, digest) == refusal(unknown, never)  # no hint the bytes exist
    assert alice.client.get(f"{mine}/files/stolen.bin").status_code == 404
    assert alice.client.get(mine).json()["version"] == 0


def test_a_record_value_cannot_be_claimed_as_a_file(alice: User, bob: User) -> None:
    theirs = new_dataset(bob)
    written = bob.client.put(f"{theirs}/records/r", json={"secret": unique()})
    assert written.status_code == 201, written.text
    digest = written.json()["entry"]["sha256"]
    refusal(commit_by_digest(alice, new_dataset(alice), "value.cbor", digest), digest)


def test_a_record_value_stays_its_writers_once_the_dataset_is_deleted(
    alice: User, bob: User
) -> None:
    """No ``blob_uploads`` row is kept per record value: the record's entry, in a version
    its writer made, keeps the value theirs, as the row did."""
    theirs = new_dataset(bob)
    written = bob.client.put(f"{theirs}/records/r", json={"mine": unique()})
    assert written.status_code == 201, written.text
    digest = written.json()["entry"]["sha256"]
    assert bob.client.delete(theirs).status_code == 204
    assert bob.client.head(f"/blobs/{digest}").status_code == 200
    assert alice.client.head(f"/blobs/{digest}").status_code == 404
    kept = commit_by_digest(bob, new_dataset(bob), "value.cbor", digest)
    assert kept.status_code == 201, kept.text


def test_the_probe_does_not_tell_who_holds_what(alice: User, bob: User) -> None:
    data = os.urandom(20_000)
    theirs = new_dataset(bob)
    digest = put_file(bob, theirs, "f.bin", data)
    assert bob.client.head(f"/blobs/{digest}").status_code == 200
    assert alice.client.head(f"/blobs/{digest}").status_code == 404  # "send it"
    # Readable bytes are possessed: once the dataset is public, alice may name them too.
    made_public = bob.client.patch(theirs, json={"visibility": "public"})
    assert made_public.status_code == 200, made_public.text
    assert alice.client.head(f"/blobs/{digest}").status_code == 200
    mine = new_dataset(alice)
    copied = commit_by_digest(alice, mine, "copy.bin", digest)
    assert copied.status_code == 201, copied.text
    assert alice.client.get(f"{mine}/files/copy.bin").content == data


def test_sending_the_bytes_gives_the_right_to_name_them(alice: User, bob: User) -> None:
    data = os.urandom(20_000)
    digest = put_file(bob, new_dataset(bob), "f.bin", data)
    uploaded = alice.client.put(f"/blobs/{digest}", content=data)
    assert uploaded.status_code == 201, uploaded.text  # new to alice, whoever else has it
    assert uploaded.json()["created"] is True
    mine = new_dataset(alice)
    assert commit_by_digest(alice, mine, "mine.bin", digest).status_code == 201


def test_team_members_possess_what_their_team_reads(
    alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    carol = make_user("carol")
    team, project = unique("team"), unique("proj")
    assert alice.client.post("/teams", json={"name": team}).status_code == 201
    made = alice.client.post(f"/teams/{team}/projects", json={"name": project})
    assert made.status_code == 201, made.text
    joined = alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "R"})
    assert joined.status_code == 200, joined.text
    shared = new_dataset(alice, project=f"{team}/{project}")
    digest = put_file(alice, shared, "team.bin", os.urandom(10_000))
    assert bob.client.head(f"/blobs/{digest}").status_code == 200
    assert commit_by_digest(bob, new_dataset(bob), "copy.bin", digest).status_code == 201
    assert carol.client.head(f"/blobs/{digest}").status_code == 404
    refusal(commit_by_digest(carol, new_dataset(carol), "copy.bin", digest), digest)


def test_the_bulk_probe_follows_the_same_rule(alice: User, bob: User, anon: httpx.Client) -> None:
    """``POST /blobs/missing`` answers for many digests what ``HEAD`` answers for one:
    bytes only others hold are missing too."""
    bobs = put_file(bob, new_dataset(bob), "b.bin", os.urandom(9_000))
    alices = put_file(alice, new_dataset(alice), "a.bin", os.urandom(9_000))
    never = sha(os.urandom(32))
    asked = [never, alices, bobs, alices]
    response = alice.client.post("/blobs/missing", json={"sha256": asked})
    assert response.status_code == 200, response.text
    assert response.json() == {"missing": [never, bobs]}  # in order, each once
    assert bob.client.post("/blobs/missing", json={"sha256": asked}).json() == {
        "missing": [never, alices]
    }
    for digest in (never, alices, bobs):
        expected = 404 if digest in (never, bobs) else 200
        assert alice.client.head(f"/blobs/{digest}").status_code == expected
    assert alice.client.post("/blobs/missing", json={"sha256": []}).json() == {"missing": []}
    many = [sha(str(n).encode()) for n in range(10_000)]
    assert (
        len(alice.client.post("/blobs/missing", json={"sha256": many}).json()["missing"]) == 10_000
    )
    too_many = alice.client.post("/blobs/missing", json={"sha256": [*many, never]})
    assert too_many.status_code == 400
    assert alice.client.post("/blobs/missing", json={"sha256": ["XYZ"]}).status_code == 400
    assert anon.post("/blobs/missing", json={"sha256": [never]}).status_code == 401


def test_a_partial_put_is_refused(alice: User) -> None:
    """A ``Content-Range`` on a PUT is a part of a file, which would otherwise be stored as
    the whole: a 400 that says so, and nothing written."""
    dataset = new_dataset(alice)
    headers = {"Content-Range": "bytes 0-3/10"}
    response = alice.client.put(f"{dataset}/files/part.bin", content=b"abcd", headers=headers)
    assert response.status_code == 400, response.text
    assert "Content-Range" in response.json()["error"]["message"]
    assert alice.client.get(f"{dataset}/files/part.bin").status_code == 404
    assert alice.client.get(dataset).json()["version"] == 0
    blob = alice.client.put(f"/blobs/{sha(b'abcd')}", content=b"abcd", headers=headers)
    assert blob.status_code == 400, blob.text
    assert alice.client.head(f"/blobs/{sha(b'abcd')}").status_code == 404
