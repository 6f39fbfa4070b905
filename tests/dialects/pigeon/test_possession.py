"""Pigeon Optics attachment links obey the possession rule: linking
``hash://sha256/<digest>`` of bytes the writer neither sent nor may read is the ordinary
``Missing Attachments`` 400 (send them), whether or not the server holds them, and the
attachment is never served through the writer's record."""

from __future__ import annotations

import json
import os

import httpx

from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, basic, create_dataset, error
from tests.support import sha, unique

RESEND = "x-pigeon-optics-resend-with-attachments"


def link(digest: str) -> str:
    return f"hash://sha256/{digest}?type=application%2Foctet-stream"


def private_file(user: User, data: bytes) -> str:
    made = user.client.post("/datasets", json={"name": unique("secret")})
    assert made.status_code == 201, made.text
    path = f"/datasets/{user.username}/{made.json()['name']}/files/secret.bin"
    written = user.client.put(path, content=data)
    assert written.status_code == 201, written.text
    digest: str = written.json()["entry"]["sha256"]
    return digest


def test_linking_someone_elses_private_bytes_is_a_missing_attachment(
    po: httpx.Client, alice: User, bob: User
) -> None:
    for size in (100, 50_000):  # inline and stored
        digest = private_file(bob, os.urandom(size))
        never = sha(os.urandom(32))
        ds: Dataset = create_dataset(po, alice)
        for target in (digest, never):
            refused = po.put(ds.record("r"), json={"f": link(target)}, auth=basic(alice))
            error(refused, 400)
            assert json.loads(refused.headers[RESEND]) == link(target)
        assert po.get(f"/attachments/{digest}").status_code == 404
        assert po.get(ds.records).json() == {}


def test_after_sending_the_bytes_the_link_works(po: httpx.Client, alice: User, bob: User) -> None:
    data = os.urandom(20_000)
    digest = private_file(bob, data)
    ds = create_dataset(po, alice)
    refused = po.put(ds.record("r"), json={"f": link(digest)}, auth=basic(alice))
    error(refused, 400)
    files = [("body", ("body", json.dumps({"f": link(digest)}).encode(), "application/json"))]
    files.append(("f", ("f.bin", data, "application/octet-stream")))
    resent = po.put(ds.record("r"), files=files, auth=basic(alice))
    assert resent.status_code == 204, resent.text
    served = po.get(f"/attachments/{digest}")
    assert served.status_code == 200
    assert served.content == data
