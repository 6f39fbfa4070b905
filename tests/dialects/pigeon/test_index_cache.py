"""The record index served from the cache of encoded indexes: a strong ``ETag`` naming
the dataset, version and representation, ``If-None-Match`` answered with 304, gzip for
clients that accept it, the same bytes cached or not, and the access check on every
request (a private dataset stays 404 to others after its owner's reads filled the cache)."""

from __future__ import annotations

import gzip
import json

import cbor2
import httpx
import pytest

from dataloft.api.pigeon.codecs import CODECS, encode_value
from dataloft.core.access import SYSTEM
from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    RawClient,
    WithoutWeb,
    basic,
    bulk,
    error,
    put_record,
)
from tests.support import LiveServer, unique

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def filled(po: httpx.Client, alice: User, ds: Dataset) -> Dataset:
    bulk(po, alice, ds, {f"r{n}": {"n": n, "text": "some words " * 5} for n in range(50)})
    return ds


def test_an_unchanged_index_answers_304_to_its_etag(po: httpx.Client, filled: Dataset) -> None:
    first = po.get(filled.records, headers=IDENTITY)
    assert first.status_code == 200
    etag = first.headers["etag"]
    again = po.get(filled.records, headers={**IDENTITY, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["x-version"] == first.headers["x-version"]
    weak = po.get(filled.records, headers={**IDENTITY, "If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304


def test_a_write_makes_a_new_etag_and_new_content(
    po: httpx.Client, alice: User, filled: Dataset
) -> None:
    before = po.get(filled.records, headers=IDENTITY)
    put_record(po, alice, filled, "new", {"fresh": True})
    after = po.get(filled.records, headers={**IDENTITY, "If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert int(after.headers["x-version"]) == int(before.headers["x-version"]) + 1
    assert "new" in after.json() and "new" not in before.json()


def test_the_etag_is_the_version_as_the_reference_says(raw: RawClient, filled: Dataset) -> None:
    """``ETag: "<version>"`` in every encoding, gzipped or not, as Pigeon Optics sends it:
    clients read it as the version."""
    for codec in CODECS:
        for encoding in (IDENTITY, GZIP):
            response = raw(codec.media_type).get(filled.records, headers=encoding)
            assert response.headers["etag"] == f'"{response.headers["x-version"]}"'


def test_gzip_is_the_identity_body_compressed(raw: RawClient, filled: Dataset) -> None:
    for codec in CODECS:
        client = raw(codec.media_type)
        plain = client.get(filled.records, headers=IDENTITY)
        assert "content-encoding" not in plain.headers
        with client.stream("GET", filled.records, headers=GZIP) as packed:
            assert packed.headers["content-encoding"] == "gzip"
            assert "Accept-Encoding" in packed.headers["vary"]
            wire = packed.read()  # decoded by httpx; the raw bytes are checked below
            raw_bytes = packed.num_bytes_downloaded
        assert wire == plain.content
        assert raw_bytes < len(plain.content)
    refused = raw().get(filled.records, headers={"Accept-Encoding": "gzip;q=0, *"})
    assert "content-encoding" not in refused.headers


def test_the_gzip_bytes_decompress_to_the_identity_bytes(
    server: LiveServer, filled: Dataset
) -> None:
    # The bytes on the wire, undecoded, as a shared cache would store them.
    headers = {"Accept": "application/json", **GZIP}
    with httpx.Client(base_url=server.url) as client:
        with client.stream("GET", filled.records, headers=headers) as response:
            packed = b"".join(response.iter_raw())
        plain = client.get(filled.records, headers={"Accept": "application/json", **IDENTITY})
    assert gzip.decompress(packed) == plain.content


def test_cached_bytes_are_the_bytes_of_the_index_as_encoded_before(
    raw: RawClient, po: httpx.Client, filled: Dataset
) -> None:
    """The first GET builds the body, the second comes from the cache: both are what
    encoding the dataset's ``records`` member in the codec gives, as before the cache."""
    records = po.get(filled.url + "/").json()["records"]
    for codec in CODECS:
        client = raw(codec.media_type)
        built, cached = (client.get(filled.records, headers=IDENTITY) for _ in range(2))
        assert built.content == cached.content == encode_value(records, codec)
    assert cbor2.loads(raw("application/cbor").get(filled.records).content) == records
    assert json.loads(po.get(filled.records, headers=GZIP).content) == records


def test_a_private_index_stays_404_to_others_once_cached(
    po: httpx.Client, alice: User, bob: User
) -> None:
    name = unique("priv")
    created = alice.client.post("/datasets", json={"name": name})
    assert created.status_code == 201, created.text
    ds = Dataset(alice.username, name)
    put_record(po, alice, ds, "secret", {"keep": "out"})
    for encoding in (IDENTITY, GZIP):
        mine = po.get(ds.records, headers=encoding, auth=basic(alice))
        assert mine.status_code == 200
        assert "secret" in mine.json()
        etag = mine.headers["etag"]
        for auth in (None, basic(bob)):
            for extra in ({}, {"If-None-Match": etag}):
                response = po.get(ds.records, headers={**encoding, **extra}, auth=auth)
                assert response.status_code == 404
                assert "secret" not in response.text
                error(response, 404)


def test_the_html_page_of_the_index_is_cached_too(without_web: WithoutWeb) -> None:
    """(A browser gets the page where the web UI is off: ``web_pages.py``.)"""
    ds, _ = without_web.dataset({f"r{n}": {"n": n} for n in range(5)})
    with without_web.client() as browser:
        built, cached = (browser.get(ds.records, headers=IDENTITY) for _ in range(2))
    assert built.headers["content-type"].startswith("text/html")
    assert b"r4" in built.content and built.content == cached.content


def test_a_renamed_dataset_has_a_new_page_and_page_etag(without_web: WithoutWeb) -> None:
    """A rename makes no new version, but the HTML page's title shows the address: its
    bytes, and so its strong ETag, change; the JSON index's do not."""
    ds, (author, _) = without_web.dataset({"r": 1})
    token = without_web.loft.auth.create_token(SYSTEM, username=author, name="tests").secret
    with without_web.client() as browser, without_web.client("application/json") as po:
        page = browser.get(ds.records, headers=IDENTITY)
        as_json = po.get(ds.records, headers=IDENTITY)
        new_name = unique("renamed")
        renamed = po.patch(
            "/loft/v1" + ds.native,
            json={"name": new_name},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert renamed.status_code == 200, renamed.text
        moved = Dataset(author, new_name)
        page_after = browser.get(
            moved.records, headers={**IDENTITY, "If-None-Match": page.headers["etag"]}
        )
        assert page_after.status_code == 200
        assert page_after.headers["etag"] != page.headers["etag"]
        assert new_name.encode() in page_after.content
        json_after = po.get(
            moved.records, headers={**IDENTITY, "If-None-Match": as_json.headers["etag"]}
        )
        assert json_after.status_code == 304
