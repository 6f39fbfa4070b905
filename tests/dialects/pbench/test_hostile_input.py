"""Odd and hostile input anywhere in the Pbench dialect is a 4xx in Pbench's shape, never
a 500, on both databases (PostgreSQL refuses a NUL in text that SQLite stores)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.pbench.conftest import Owner
from tests.dialects.pbench.tarballs import md5_hex, pbench_tarball, upload
from tests.support import unique

NUL = "%00"
REQUESTS = [
    ("GET", f"/datasets?owner=a{NUL}b"),
    ("GET", f"/datasets?name=a{NUL}b"),
    ("GET", f"/datasets?filter=dataset.name:a{NUL}b"),
    ("GET", f"/datasets?filter=global.a{NUL}:1"),
    ("GET", f"/datasets?sort=global.a{NUL}"),
    ("GET", f"/datasets?metadata=global.a{NUL}b"),
    ("GET", f"/datasets/a{NUL}b"),
    ("GET", f"/datasets/a{NUL}b/metadata?metadata=global.x"),
    ("GET", f"/datasets/a{NUL}b/contents/x"),
    ("GET", f"/datasets/a{NUL}b/inventory/x"),
    ("POST", f"/datasets/a{NUL}b?access=public"),
    ("DELETE", f"/datasets/a{NUL}b"),
    ("GET", f"/key/1{NUL}"),
    ("DELETE", "/key/99999999999999999999999"),
    ("GET", f"/server/settings/x{NUL}"),
    ("GET", f"/server/audit?user_name=a{NUL}"),
    ("GET", f"/compare?datasets=a{NUL}b"),
    ("GET", "/datasets?offset=99999999999999999999999"),
    ("GET", "/datasets?start=0001-01-01&end=9999-12-31"),
    ("PUT", f"/upload/a{NUL}b.tar.xz"),
    ("PUT", "/upload/" + "x" * 3000 + ".tar.xz"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_no_odd_request_is_a_server_error(owner: Owner, method: str, path: str) -> None:
    headers = {"Content-MD5": "0" * 32} if method == "PUT" else {}
    answer = owner.client.request(method, path, headers=headers, content=b"x")
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert set(answer.json()) >= {"message"}


def test_metadata_writes_with_odd_keys_and_values_are_refused_cleanly(owner: Owner) -> None:
    name = unique("odd")
    data = pbench_tarball(name)
    assert upload(owner.client, data, f"{name}.tar.xz").status_code == 201
    bodies: list[dict[str, Any]] = [
        {"metadata": {"global.a\x00b": 1}},
        {"metadata": {"global.x": {"k\x00": 1}}},
        {"metadata": {"server.deletion": "\x00"}},
        {"metadata": []},
    ]
    for body in bodies:
        answer = owner.client.put(f"/datasets/{md5_hex(data)}/metadata", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
    # Text with a NUL, a huge number: refused, or kept and read back as sent.
    for key, value in (("global.x", "a\x00b"), ("user.x", "a\x00b"), ("global.n", 10**400)):
        url = f"/datasets/{md5_hex(data)}/metadata"
        put = owner.client.put(url, json={"metadata": {key: value}})
        assert put.status_code < 500, put.text
        if put.status_code == 200:
            assert owner.client.get(url, params={"metadata": key}).json() == {key: value}
