"""User bytes never run script in the app's origin, in any dialect: every download carries
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox``; active types
(HTML, XHTML, SVG, XML, JavaScript) and types we cannot vouch for go out as attachments
named after the file, on full, ``HEAD``, ranged and 304 answers alike; text and images stay
inline. Under the configured user-content host name, active types may render inline (still
sandboxed). Our own encodings (record JSON and CBOR, errors) say ``nosniff`` too."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import Clock, LiveServer, unique, upload

USER_CONTENT_HOST = "usercontent.test"
SCRIPT = b"<script>alert(document.cookie)</script>"
# The smallest valid PNG: a 1x1 transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# (path, Content-Type to upload with, bytes): each must be served as an attachment.
ACTIVE = [
    ("page.html", "text/html", SCRIPT),
    ("deep/er/page.htm", "text/html; charset=utf-8", SCRIPT),
    ("drawing.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>'),
    ("page.xhtml", "application/xhtml+xml", b'<html xmlns="http://www.w3.org/1999/xhtml"/>'),
    ("app.js", "text/javascript", b"alert(1)"),
    ("app.mjs", "application/javascript", b"alert(1)"),
    ("old.es", "application/ecmascript", b"alert(1)"),
    ("data.xml", "application/xml", b"<?xml version='1.0'?><a/>"),
    ("feed.txt", "text/xml", b"<a/>"),
    ("feed.atom", "application/atom+xml", b"<feed/>"),
    ("style.xsl", "text/xsl", b"<xsl:stylesheet/>"),
    ("blob.bin", "application/octet-stream", SCRIPT),
    ("paper.pdf", "application/pdf", b"%PDF-1.4"),
    # A browser reads a comma list as its last type: this one is HTML.
    ("sneaky.txt", "text/plain;a=b,text/html", SCRIPT),
]
# (path, Content-Type, bytes): each stays inline (sandboxed all the same).
PASSIVE = [
    ("notes.txt", "text/plain", SCRIPT),
    ("photo.png", "image/png", PNG),
    ("table.csv", "text/csv", b"a,b\n1,2\n"),
    ("value.json", "application/json", b'{"a": "<script>"}'),
]


def user_bytes(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


def attachment(response: httpx.Response, filename: str) -> None:
    user_bytes(response)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;"), disposition
    assert f'filename="{filename}"' in disposition


def inline(response: httpx.Response) -> None:
    user_bytes(response)
    assert "content-disposition" not in response.headers


def put_file(client: httpx.Client, dataset: str, path: str, media_type: str, data: bytes) -> None:
    """A file with exactly this media type (a commit keeps its parameters, which a ``PUT``
    of the file would drop)."""
    change = {"op": "put_file", "path": path, "sha256": upload(client, data)}
    response = client.post(
        f"{dataset}/commits", json={"changes": [{**change, "media_type": media_type}]}
    )
    assert response.status_code == 201, response.text


# --- native API ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "media_type", "data"), ACTIVE, ids=[c[0] for c in ACTIVE])
def test_native_active_types_are_attachments(
    alice: User, dataset: str, path: str, media_type: str, data: bytes
) -> None:
    put_file(alice.client, dataset, path, media_type, data)
    url = f"{dataset}/files/{path}"
    name = path.rpartition("/")[2]
    full = alice.client.get(url)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == media_type
    attachment(full, name)
    head = alice.client.head(url)
    assert head.status_code == 200
    attachment(head, name)
    ranged = alice.client.get(url, headers={"Range": "bytes=0-2"})
    assert ranged.status_code == 206
    assert ranged.content == data[:3]
    attachment(ranged, name)
    cached = alice.client.get(url, headers={"If-None-Match": full.headers["etag"]})
    assert cached.status_code == 304
    attachment(cached, name)


@pytest.mark.parametrize(("path", "media_type", "data"), PASSIVE, ids=[c[0] for c in PASSIVE])
def test_native_text_and_images_stay_inline(
    alice: User, dataset: str, path: str, media_type: str, data: bytes
) -> None:
    put_file(alice.client, dataset, path, media_type, data)
    url = f"{dataset}/files/{path}"
    full = alice.client.get(url)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == media_type
    inline(full)
    inline(alice.client.head(url))
    ranged = alice.client.get(url, headers={"Range": "bytes=1-"})
    assert ranged.status_code == 206
    inline(ranged)


def test_native_file_of_unknown_type_is_an_attachment(alice: User, dataset: str) -> None:
    # No Content-Type, and a name that says nothing: application/octet-stream.
    response = alice.client.put(f"{dataset}/files/README", content=SCRIPT)
    assert response.status_code == 201, response.text
    served = alice.client.get(f"{dataset}/files/README")
    assert served.headers["content-type"] == "application/octet-stream"
    attachment(served, "README")


def test_a_non_ascii_file_name_travels_in_filename_star(alice: User, dataset: str) -> None:
    put_file(alice.client, dataset, "dir/héllo wörld.html", "text/html", SCRIPT)
    served = alice.client.get(f"{dataset}/files/dir/héllo wörld.html")
    attachment(served, "h_llo w_rld.html")
    assert "filename*=UTF-8''h%C3%A9llo%20w%C3%B6rld.html" in served.headers["content-disposition"]


def test_record_reads_say_nosniff(alice: User, dataset: str) -> None:
    written = alice.client.put(f"{dataset}/records/r", json={"html": "<script>x()</script>"})
    assert written.status_code == 201, written.text
    as_json = alice.client.get(f"{dataset}/records/r")
    assert as_json.status_code == 200
    assert as_json.headers["x-content-type-options"] == "nosniff"
    as_cbor = alice.client.get(f"{dataset}/records/r", headers={"Accept": "application/cbor"})
    assert as_cbor.status_code == 200
    assert as_cbor.headers["content-type"] == "application/cbor"
    inline(as_cbor)
    missing = alice.client.get(f"{dataset}/records/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["x-content-type-options"] == "nosniff"


# --- Algorithmia -----------------------------------------------------------------------------


@pytest.fixture
def algorithmia(server: LiveServer, alice: User) -> Iterator[httpx.Client]:
    """An Algorithmia client of alice's, and a fresh collection of hers at ``/c``."""
    headers = {"Authorization": f"Simple {alice.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        name = unique("coll")
        created = client.post("/v1/data/.my", json={"name": name})
        assert created.status_code == 200, created.text
        client.base_url = httpx.URL(f"{server.url}/v1/data/.my/{name}/")
        yield client


# Algorithmia guesses the type from the name and labels UTF-8 text with its charset.
ALGORITHMIA_ACTIVE = ["page.html", "drawing.svg", "page.xhtml", "app.js", "data.xml", "x.bin"]


@pytest.mark.parametrize("path", ALGORITHMIA_ACTIVE)
def test_algorithmia_active_types_are_attachments(algorithmia: httpx.Client, path: str) -> None:
    data = SCRIPT if path != "x.bin" else os.urandom(64) + b"\xff"  # not UTF-8: binary
    assert algorithmia.put(path, content=data).status_code == 200
    full = algorithmia.get(path)
    assert full.status_code == 200
    assert full.content == data
    attachment(full, path)
    head = algorithmia.head(path)
    assert head.headers["x-data-type"] == "file"
    attachment(head, path)
    ranged = algorithmia.get(path, headers={"Range": "bytes=0-0"})
    assert ranged.status_code == 206
    attachment(ranged, path)


def test_algorithmia_text_stays_inline(algorithmia: httpx.Client) -> None:
    assert algorithmia.put("notes.txt", content=SCRIPT).status_code == 200
    full = algorithmia.get("notes.txt")
    assert full.headers["content-type"] == "text/plain; charset=utf-8"
    assert full.content == SCRIPT
    inline(full)
    inline(algorithmia.head("notes.txt"))


# --- Pigeon Optics attachments ---------------------------------------------------------------


@pytest.fixture
def pigeon_attachment(server: LiveServer, alice: User) -> Iterator[tuple[httpx.Client, str]]:
    """A Pigeon Optics client and the sha256 of an attachment a public record links."""
    data = SCRIPT + unique().encode()
    digest = hashlib.sha256(data).hexdigest()
    auth = (alice.username, alice.password)
    headers = {"Accept": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        name = unique("ds")
        created = client.put("/datasets/create", json={"name": name}, auth=auth)
        assert created.status_code == 303, created.text
        body = json.dumps({"page": "cid:page.html"}).encode()
        parts: list[tuple[str, tuple[str, bytes] | tuple[str, bytes, str]]] = [
            ("body", ("body", body, "application/json")),
            ("a", ("page.html", data)),
        ]
        url = f"/datasets/{alice.username}:{name}/records/r"
        written = client.put(url, files=parts, auth=auth)
        assert written.status_code == 204, written.text
        yield client, digest


PIGEON_ACTIVE = [
    "text/html",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/javascript",
    "application/xml",
    "TEXT/HTML; charset=utf-8",
    "text/plain, text/html",
    "nonsense",
]


@pytest.mark.parametrize("media_type", PIGEON_ACTIVE)
def test_pigeon_attachments_of_active_types_are_attachments(
    pigeon_attachment: tuple[httpx.Client, str], media_type: str
) -> None:
    client, digest = pigeon_attachment
    url = f"/attachments/{digest}"
    full = client.get(url, params={"type": media_type})
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == media_type
    attachment(full, digest)
    ranged = client.get(url, params={"type": media_type}, headers={"Range": "bytes=0-7"})
    assert ranged.status_code == 206
    attachment(ranged, digest)
    attachment(client.head(url, params={"type": media_type}), digest)


def test_pigeon_attachment_without_a_type_is_a_download(
    pigeon_attachment: tuple[httpx.Client, str],
) -> None:
    client, digest = pigeon_attachment
    served = client.get(f"/attachments/{digest}")
    assert served.headers["content-type"] == "application/octet-stream"
    attachment(served, digest)


@pytest.mark.parametrize("media_type", ["text/plain", "image/png", "video/mp4"])
def test_pigeon_attachments_of_passive_types_stay_inline(
    pigeon_attachment: tuple[httpx.Client, str], media_type: str
) -> None:
    client, digest = pigeon_attachment
    served = client.get(f"/attachments/{digest}", params={"type": media_type})
    assert served.status_code == 200
    assert served.headers["content-type"] == media_type
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    inline(served)


def test_pigeon_record_reads_say_nosniff(server: LiveServer, alice: User) -> None:
    auth = (alice.username, alice.password)
    with httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as client:
        name = unique("ds")
        assert client.put("/datasets/create", json={"name": name}, auth=auth).status_code == 303
        url = f"/datasets/{alice.username}:{name}/records/r"
        assert client.put(url, json={"html": "<b>"}, auth=auth).status_code == 204
        read = client.get(url)
        assert read.status_code == 200
        assert read.headers["x-content-type-options"] == "nosniff"


# --- a user-content host ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def content_server(settings: Settings, session_clock: Clock) -> Iterator[LiveServer]:
    """A second server process on the same database and blobs, configured with a
    user-content host name (as an operator would run it)."""
    configured = settings.model_copy(update={"user_content_host": USER_CONTENT_HOST})
    with Loft(configured, clock=session_clock) as loft:
        live = LiveServer(create_app(configured, loft)).start()
        yield live
        live.stop()


def test_the_user_content_host_renders_active_types_inline(
    content_server: LiveServer, alice: User, dataset: str
) -> None:
    put_file(alice.client, dataset, "page.html", "text/html", SCRIPT)
    url = f"{content_server.url}/loft/v1{dataset}/files/page.html"
    headers = {"Authorization": f"Bearer {alice.token}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        on_content_host = client.get(url, headers={"Host": USER_CONTENT_HOST})
        assert on_content_host.status_code == 200
        assert on_content_host.content == SCRIPT
        assert on_content_host.headers["content-type"] == "text/html"
        inline(on_content_host)
        # The host name is not case-sensitive, and a port does not change it.
        inline(client.get(url, headers={"Host": f"UserContent.Test:{content_server.port}"}))
        # The same server under its main name: still a download.
        on_main_host = client.get(url)
        assert urlsplit(str(on_main_host.url)).hostname == "127.0.0.1"
        attachment(on_main_host, "page.html")
        attachment(client.get(url, headers={"Host": "usercontent.test.evil.example"}), "page.html")
