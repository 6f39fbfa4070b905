"""Every large listing, in every dialect, over real HTTP: gzipped for clients that accept
it and as it is for the rest, with the same bytes once decompressed (``api/listings.py``).

One dataset of a few hundred files and records, over several versions, is listed through
the native API, Algorithmia's and Pigeon Optics' (lists, dataset pages, the record index,
exports). Each listing is read without ``Accept-Encoding``, with ``identity``, with gzip
(its raw bytes decompressed by hand), with gzip refused (``gzip;q=0``) and admitted by
``*``, and by ``HEAD`` where the route answers it; a body under ``MIN_COMPRESSED`` bytes is
never compressed, and a private dataset's listings stay 404 to others, gzip or not."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dataloft.api.listings import MIN_COMPRESSED
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.support import LiveServer, unique

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}
JSON = {"Accept": "application/json"}
VERSIONS = 6
PER_VERSION = 50


@dataclass(frozen=True)
class Owner:
    """The user who owns the listed dataset, and how each dialect authenticates them."""

    username: str
    password: str
    token: str
    dataset: str  # its name

    def auth(self, dialect: str) -> dict[str, str]:
        if dialect == "native":
            return {"Authorization": f"Bearer {self.token}"}
        if dialect == "algorithmia":
            return {"Authorization": f"Simple {self.token}"}
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}


@dataclass(frozen=True)
class Listing:
    dialect: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    large: bool = True  # known to exceed MIN_COMPRESSED with the seeded dataset
    # HEAD answers as GET would: not on the native API's FastAPI routes (405), nor on
    # Algorithmia's, whose HEAD says whether a path exists without listing it.
    head: bool = True


def _user(loft: Loft, prefix: str, *, is_admin: bool = False) -> tuple[str, str, str]:
    username, password = unique(prefix), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password, is_admin=is_admin)
    token = loft.auth.create_token(SYSTEM, username=username, name="tests").secret
    return username, password, token


@pytest.fixture(scope="module")
def owner(server: LiveServer, loft: Loft) -> Iterator[Owner]:
    """A private dataset of ``VERSIONS`` versions, each adding ``PER_VERSION`` files (half
    in a folder) and as many records, beside four empty datasets of the same owner, an
    admin (who may list users)."""
    username, password, token = _user(loft, "lister", is_admin=True)  # to list users
    name = unique("big")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=60) as client:
        for dataset in (name, *(unique("small") for _ in range(4))):
            assert client.post("/datasets", json={"name": dataset}).status_code == 201
        content = b"listed"
        digest = hashlib.sha256(content).hexdigest()
        assert client.put(f"/blobs/{digest}", content=content).status_code == 201
        for version in range(VERSIONS):
            changes: list[dict[str, Any]] = []
            for n in range(PER_VERSION):
                path = f"{'folder/' if n % 2 else ''}file-{version}-{n}-ünï.txt"
                changes.append({"op": "put_file", "path": path, "sha256": digest})
                value = {"n": n, "text": f"värde {version} " * 4}
                changes.append({"op": "put_record", "id": f"r-{version}-{n}", "value": value})
            made = client.post(f"/datasets/{username}/{name}/commits", json={"changes": changes})
            assert made.status_code == 201, made.text
    yield Owner(username, password, token, name)


def listings(owner: Owner) -> list[Listing]:
    user, name = owner.username, owner.dataset
    native = f"/loft/v1/datasets/{user}/{name}"
    pigeon = f"/datasets/{user}:{name}"
    return [
        Listing("native", f"/loft/v1/datasets?owner={user}", head=False),
        Listing("native", f"{native}/files?limit=1000", head=False),
        Listing("native", f"{native}/records?limit=1000", head=False),
        Listing("native", f"{native}/versions", head=False),
        Listing("native", f"{native}/diff?from=0&limit=1000", head=False),
        Listing("native", f"/loft/v1/events?dataset={user}/{name}", head=False),
        Listing("native", "/loft/v1/users?limit=1000", large=False, head=False),
        Listing("algorithmia", f"/v1/data/{user}/{name}", head=False),
        Listing("algorithmia", f"/v1/data/{user}/{name}/folder", head=False),
        Listing("algorithmia", f"/v1/data/{user}", large=False, head=False),
        Listing("pigeon", "/datasets/", JSON, large=False),
        Listing("pigeon", "/authors/", JSON, large=False),
        Listing("pigeon", f"/authors/{user}/", JSON, large=False),
        Listing("pigeon", f"/datasets/{user}:", JSON, large=False),
        Listing("pigeon", f"{pigeon}/", JSON),
        Listing("pigeon", f"{pigeon}/", {"Accept": "application/cbor"}),
        Listing("pigeon", f"{pigeon}/", {"Accept": "application/x-ndjson"}),
        # (A browser asking for the dataset's page is sent to the web UI's: web_pages.py.)
        Listing("pigeon", "/authors/", {"Accept": "text/html"}, large=False),
        Listing("pigeon", f"{pigeon}/records/", JSON),
        Listing("pigeon", f"{pigeon}/records/", {"Accept": "application/yaml"}),
        Listing("pigeon", f"{pigeon}/export/flat-file.json"),
        Listing("pigeon", f"{pigeon}/export/flat-file.jsonl"),
        Listing("pigeon", f"{pigeon}/export/flat-file.cbor"),
        Listing("pigeon", f"{pigeon}/export/flat-file.json?at={VERSIONS}"),
        Listing("pigeon", f"{pigeon}/export?encoding=json"),
        Listing("pigeon", f"{pigeon}/export?encoding=json-lines"),
        Listing("pigeon", f"{pigeon}/export?encoding=cbor&after=2"),
    ]


def _get(
    client: httpx.Client, owner: Owner, listing: Listing, encoding: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as it came over the wire (not decoded)."""
    headers = {**owner.auth(listing.dialect), **listing.headers, **encoding}
    with client.stream("GET", listing.path, headers=headers) as response:
        wire = b"".join(response.iter_raw())
    assert response.status_code == 200, (listing, response.status_code, wire[:200])
    return response, wire


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as raw:
        yield raw


def test_gzip_is_the_identity_body_compressed(client: httpx.Client, owner: Owner) -> None:
    for listing in listings(owner):
        plain, plain_wire = _get(client, owner, listing, IDENTITY)
        assert "content-encoding" not in plain.headers, listing
        assert "Accept-Encoding" in plain.headers["vary"], listing
        if listing.dialect == "pigeon" and "/export" not in listing.path:
            # Negotiated by Accept as well, as the record index always said.
            assert "Accept" in plain.headers["vary"].split(", "), listing
        packed, packed_wire = _get(client, owner, listing, GZIP)
        assert packed.headers["vary"] == plain.headers["vary"], listing
        assert packed.headers["content-type"] == plain.headers["content-type"], listing
        worth_it = len(plain_wire) >= MIN_COMPRESSED
        assert worth_it or not listing.large, (listing, len(plain_wire))
        if worth_it:
            assert packed.headers["content-encoding"] == "gzip", listing
            assert gzip.decompress(packed_wire) == plain_wire, listing
            assert len(packed_wire) < len(plain_wire) / 2, listing
        else:
            assert "content-encoding" not in packed.headers, listing
            assert packed_wire == plain_wire, listing
            assert packed.headers["content-length"] == str(len(plain_wire)), listing


def test_without_accept_encoding_a_listing_is_sent_as_it_is(
    client: httpx.Client, owner: Owner
) -> None:
    """A client that names no coding gets the identity bytes: gzip only when asked for
    (httpx would otherwise ask for it on every request)."""
    for listing in listings(owner):
        _, plain_wire = _get(client, owner, listing, IDENTITY)
        headers = {**owner.auth(listing.dialect), **listing.headers}
        request = client.build_request("GET", listing.path, headers=headers)
        del request.headers["accept-encoding"]
        response = client.send(request)
        assert response.status_code == 200, listing
        assert "content-encoding" not in response.headers, listing
        assert response.content == plain_wire, listing


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip;q=0, identity", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0.1", True),
        ("*", True),
        ("x-gzip", True),
        ("GZIP;q=0.5", True),
        ("gzip;q=nonsense", False),
    ],
)
def test_q_values_decide(
    client: httpx.Client, owner: Owner, accept_encoding: str, gzipped: bool
) -> None:
    for listing in listings(owner):
        if not listing.large:
            continue
        _, plain_wire = _get(client, owner, listing, IDENTITY)
        response, wire = _get(client, owner, listing, {"Accept-Encoding": accept_encoding})
        assert ("content-encoding" in response.headers) == gzipped, listing
        assert (gzip.decompress(wire) if gzipped else wire) == plain_wire, listing


def test_head_says_what_get_would_send(client: httpx.Client, owner: Owner) -> None:
    for listing in listings(owner):
        if not listing.head:
            continue
        for encoding in (IDENTITY, GZIP):
            got, _ = _get(client, owner, listing, encoding)
            headers = {**owner.auth(listing.dialect), **listing.headers, **encoding}
            head = client.head(listing.path, headers=headers)
            assert head.status_code == 200, listing
            assert head.content == b""
            for name in ("content-type", "content-encoding", "content-length", "vary"):
                assert head.headers.get(name) == got.headers.get(name), (listing, name)


def test_an_unchanged_index_answers_304_gzip_or_not(client: httpx.Client, owner: Owner) -> None:
    """The listings with an ``ETag`` (the record index): 304 to it, in either coding, with
    the ``Vary`` a cache needs to keep the two apart."""
    for listing in listings(owner):
        for encoding in (IDENTITY, GZIP):
            got, _ = _get(client, owner, listing, encoding)
            etag = got.headers.get("etag")
            if etag is None:
                continue
            headers = {**owner.auth(listing.dialect), **listing.headers, **encoding}
            again = client.get(listing.path, headers={**headers, "If-None-Match": etag})
            assert again.status_code == 304, listing
            assert again.content == b""
            assert "Accept-Encoding" in again.headers["vary"], listing


def test_a_large_export_is_streamed_compressed(client: httpx.Client, owner: Owner) -> None:
    """An export is sent as it is made (chunked, no ``Content-Length``), gzipped on the way."""
    listing = Listing("pigeon", f"/datasets/{owner.username}:{owner.dataset}/export/flat-file.json")
    response, wire = _get(client, owner, listing, GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["content-disposition"].startswith("attachment")
    assert gzip.decompress(wire).startswith(b"[\n")


def test_a_small_stream_goes_whole_and_as_it_is(
    client: httpx.Client, owner: Owner, server: LiveServer
) -> None:
    """The export of an empty dataset is a few bytes: sent whole, with its length."""
    name = unique("empty")
    headers = owner.auth("native")
    made = client.post("/loft/v1/datasets", json={"name": name}, headers=headers)
    assert made.status_code == 201
    empty = Owner(owner.username, owner.password, owner.token, name)
    listing = Listing("pigeon", f"/datasets/{owner.username}:{name}/export/flat-file.json")
    response, wire = _get(client, empty, listing, GZIP)
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(wire))
    assert len(wire) < MIN_COMPRESSED
    assert "Accept-Encoding" in response.headers["vary"]


@pytest.fixture
def stranger(owner: Owner, loft: Loft) -> Owner:
    """Another user, who may not read the owner's dataset."""
    username, password, token = _user(loft, "other")
    return Owner(username, password, token, owner.dataset)


def test_private_listings_stay_404_to_others(
    client: httpx.Client, owner: Owner, stranger: Owner
) -> None:
    for listing in listings(owner):
        if owner.dataset not in listing.path:
            continue  # a listing of everything readable, which leaves the dataset out
        for encoding in (IDENTITY, GZIP):
            for who in ({}, stranger.auth(listing.dialect)):
                headers = {**who, **listing.headers, **encoding}
                response = client.get(listing.path, headers=headers)
                assert response.status_code in (401, 404), (listing, response.status_code)
                assert b"file-0" not in response.content and b"r-0-" not in response.content


def test_listings_of_everything_leave_the_private_dataset_out(
    client: httpx.Client, owner: Owner, stranger: Owner
) -> None:
    for listing in listings(owner):
        if owner.dataset in listing.path or listing.path.startswith("/loft/v1/users"):
            continue  # (only admins list users)
        response, wire = _get(client, stranger, listing, GZIP)
        body = gzip.decompress(wire) if "content-encoding" in response.headers else wire
        assert owner.dataset.encode() not in body, listing
