"""Pigeon Optics attachment links (§2.4 steps 1-2), pinned with raw HTTP: a record whose
value holds ``hash://sha256/<hex>?<query>`` as a whole string anywhere, for bytes the server
does not have, is refused with 400 ``Missing Attachments`` and the normalised URLs in
``X-Pigeon-Optics-Resend-With-Attachments``; nothing is saved. Once the bytes are on the
server (uploaded here through the native blob API) the same write succeeds and the record's
``links`` list the normalised URLs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    bulk,
    cors,
    error,
    index,
    native_records,
    put_record,
    state,
    upload_blob,
    value,
)
from tests.support import unique

RESEND = "x-pigeon-optics-resend-with-attachments"


def fresh() -> tuple[bytes, str]:
    """Bytes no test has uploaded yet, and their sha256."""
    data = ("attachment " + unique()).encode()
    return data, hashlib.sha256(data).hexdigest()


def missing(response: httpx.Response) -> list[str]:
    """Assert the Missing Attachments refusal; returns the URLs the server asks for."""
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Missing Attachments", "stack": False}
    cors(response)
    header = response.headers[RESEND]
    urls = json.loads("[" + header + "]")
    assert isinstance(urls, list)
    assert all(isinstance(url, str) for url in urls)
    return urls


def video(digest: str) -> str:
    return f"hash://sha256/{digest}?type=video%2Fmp4"


# Where a link may hide: (the value holding it, given the URL as the client writes it).
PLACES: dict[str, Callable[[str], Any]] = {
    "root": lambda url: url,
    "nested-list": lambda url: {"media": [[1, {"deep": [url]}]]},
    "object-key": lambda url: {url: "the key is the link"},
    "set-member": lambda url: {"s": {"type": "Set", "data": ["a", url]}},
    "map-key": lambda url: {"type": "Map", "data": [[url, 1]]},
    "map-value": lambda url: {"type": "Map", "data": [[1, [url]]]},
}


@pytest.mark.parametrize("place", list(PLACES))
def test_a_missing_attachment_is_refused_until_uploaded(
    po: httpx.Client, alice: User, ds: Dataset, place: str
) -> None:
    data, digest = fresh()
    record = PLACES[place](video(digest))
    before = state(po, alice, ds)

    response = po.put(ds.record("r"), json=record, auth=basic(alice))
    assert missing(response) == [video(digest)]
    assert state(po, alice, ds) == before
    assert error(po.get(ds.record("r")), 404) == "Record Not Found"

    assert upload_blob(alice, data) == digest
    put_record(po, alice, ds, "r", record)
    version, records = index(po, ds)
    assert version == 1
    assert records["r"]["links"] == [video(digest)]
    assert value(po, ds, "r") == record


NORMALISED = [
    ("hash://sha256/{HEX}?type=video%2Fmp4", "hash://sha256/{hex}?type=video%2Fmp4"),
    ("hash://sha256/{hex}?type=video/mp4", "hash://sha256/{hex}?type=video%2Fmp4"),
    ("HASH://SHA256/{hex}?type=video%2fmp4", "hash://sha256/{hex}?type=video%2Fmp4"),
    (
        "hash://sha256/{hex}?type=text%2Fplain%3B%20charset%3Dutf-8&x=1",
        "hash://sha256/{hex}?type=text%2Fplain%3B+charset%3Dutf-8&x=1",
    ),
    ("hash://sha256/{hex}?", "hash://sha256/{hex}?"),
]


def test_links_are_normalised(po: httpx.Client, alice: User, ds: Dataset) -> None:
    for number, (written, normalised) in enumerate(NORMALISED):
        data, digest = fresh()
        url = written.format(HEX=digest.upper(), hex=digest)
        expected = normalised.format(hex=digest)
        record_id = f"r{number}"
        refused = po.put(ds.record(record_id), json={"v": url}, auth=basic(alice))
        assert missing(refused) == [expected], written
        upload_blob(alice, data)
        put_record(po, alice, ds, record_id, {"v": url})
        assert index(po, ds)[1][record_id]["links"] == [expected], written
        assert value(po, ds, record_id) == {"v": url}  # the value itself is kept as written
        assert native_records(alice, ds)[record_id]["metadata"] == {"links": [expected]}


def test_only_the_missing_ones_are_asked_for(po: httpx.Client, alice: User, ds: Dataset) -> None:
    have, have_digest = fresh()
    lack, lack_digest = fresh()
    other, other_digest = fresh()
    upload_blob(alice, have)
    image = f"hash://sha256/{other_digest}?type=image%2Fpng"
    record = {"a": video(have_digest), "b": [video(lack_digest), image, video(lack_digest)]}
    assert missing(po.put(ds.record("r"), json=record, auth=basic(alice))) == [
        video(lack_digest),
        image,
    ]
    upload_blob(alice, lack)
    upload_blob(alice, other)
    put_record(po, alice, ds, "r", record)
    assert index(po, ds)[1]["r"]["links"] == [video(have_digest), video(lack_digest), image]


def test_one_missing_attachment_fails_the_whole_bulk_write(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    put_record(po, alice, ds, "kept", 1)
    data, digest = fresh()
    before = state(po, alice, ds)
    body = {"fine": {"x": 1}, "kept": None, "media": [video(digest)]}
    for method in ("POST", "PUT"):
        assert missing(bulk(po, alice, ds, body, method=method)) == [video(digest)]
        assert state(po, alice, ds) == before

    upload_blob(alice, data)
    response = bulk(po, alice, ds, body)
    assert response.status_code == 204, response.text
    version, records = index(po, ds)
    assert version == 2
    assert set(records) == {"fine", "media"}
    assert records["media"]["links"] == [video(digest)]
    assert records["fine"]["links"] == []


def test_a_rewrite_with_the_same_links_keeps_the_record_version(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    data, digest = fresh()
    upload_blob(alice, data)
    put_record(po, alice, ds, "r", [video(digest)])
    put_record(po, alice, ds, "r", [video(digest)])
    version, records = index(po, ds)
    assert version == 2
    assert records["r"]["version"] == 1
    assert records["r"]["links"] == [video(digest)]
    put_record(po, alice, ds, "r", ["no link any more"])
    version, records = index(po, ds)
    assert records["r"] == {**records["r"], "links": [], "version": 3}


NOT_LINKS = [
    "see hash://sha256/{hex}?type=video%2Fmp4",  # inside a larger string
    "hash://sha256/{hex}",  # no query
    "hash://sha256/{hex}?type=video%2Fmp4#frag",
    "hash://sha256/{short}?type=video%2Fmp4",
    "hash://md5/{hex}?type=video%2Fmp4",
]


def test_strings_that_are_not_links(po: httpx.Client, alice: User, ds: Dataset) -> None:
    _, digest = fresh()
    texts = [text.format(hex=digest, short=digest[:63]) for text in NOT_LINKS]
    put_record(po, alice, ds, "r", {"texts": texts, "set": {"type": "Set", "data": texts}})
    assert index(po, ds)[1]["r"]["links"] == []


def test_a_write_without_permission_is_401_before_attachments_are_checked(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    _, digest = fresh()
    response = po.put(ds.record("r"), json=[video(digest)])
    assert response.status_code == 401, response.text
    response = po.put(ds.record("r"), json=[video(digest)], auth=basic(bob))
    assert response.status_code == 401, response.text


def test_links_are_normalised_like_url_search_params(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    data, digest = fresh()
    upload_blob(alice, data)
    put_record(po, alice, ds, "r", f"hash://sha256/{digest}?type=a%2Fb&name=x~y*z")
    links = index(po, ds)[1]["r"]["links"]
    assert links == [f"hash://sha256/{digest}?type=a%2Fb&name=x%7Ey*z"]
