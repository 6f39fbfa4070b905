"""Pigeon Optics attachment uploads (reference §2.4 steps 3-5) and reads (§1.4), with raw
HTTP: the Missing Attachments refusal, the multipart retry with a ``body`` part and file
parts, ``cid:`` rewriting, serving with ``Range``, ``/meta`` linkers, retention and
garbage collection, and storage shared with the native API's files."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import cbor2
import httpx
import pytest

from dataloft.core.loft import Loft
from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    create_dataset,
    error,
    index,
    put_record,
    state,
    value,
)
from tests.support import unique

RESEND = "x-pigeon-optics-resend-with-attachments"


def fresh(size: int = 0) -> tuple[bytes, str]:
    """Bytes no test has uploaded yet (at least ``size`` of them), and their sha256."""
    data = ("upload " + unique()).encode() + os.urandom(size)
    return data, hashlib.sha256(data).hexdigest()


def link(digest: str, media_type: str = "video/mp4") -> str:
    return f"hash://sha256/{digest}?type={media_type.replace('/', '%2F')}"


def multipart(
    po: httpx.Client,
    user: User,
    url: str,
    body: Any,
    files: list[tuple[str, tuple[Any, ...]]],
    *,
    method: str = "PUT",
    body_type: str = "application/json",
) -> httpx.Response:
    """A multipart write: the encoded ``body`` part first, then the file parts."""
    encoded = cbor2.dumps(body) if body_type == "application/cbor" else json.dumps(body).encode()
    parts = [("body", ("body", encoded, body_type)), *files]
    return po.request(method, url, files=parts, auth=basic(user))


def native_has(user: User, digest: str) -> bool:
    response = user.client.head(f"/blobs/{digest}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def test_the_whole_attachment_dance(po: httpx.Client, alice: User, ds: Dataset) -> None:
    data, digest = fresh(100_000)  # bigger than the inline limit: a file in the blob store
    record = {"title": "a clip", "clip": link(digest)}
    refused = po.put(ds.record("clip"), json=record, auth=basic(alice))
    assert refused.status_code == 400
    assert refused.json() == {"error": "Missing Attachments", "stack": False}
    assert json.loads("[" + refused.headers[RESEND] + "]") == [link(digest)]

    retry = multipart(
        po,
        alice,
        ds.record("clip"),
        {"title": "a clip", "clip": "cid:clip.mp4"},
        [("attachment", ("clip.mp4", data, "video/mp4"))],
    )
    assert retry.status_code == 204, retry.text
    assert value(po, ds, "clip") == record
    version, records = index(po, ds)
    assert version == 1
    assert records["clip"]["links"] == [link(digest)]

    served = po.get(f"/attachments/{digest}", params={"type": "video/mp4"})
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["access-control-allow-origin"] == "*"

    ranged = po.get(f"/attachments/{digest}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert ranged.headers["content-type"] == "application/octet-stream"

    meta = po.get(f"/attachments/{digest}/meta")
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["linkers"] == [f"{ds.url}/records/clip"]
    assert isinstance(body["created"], int)
    assert body["updated"] >= body["created"]


def test_a_part_answers_to_its_content_id(po: httpx.Client, alice: User, ds: Dataset) -> None:
    image, image_digest = fresh()
    text, text_digest = fresh()
    spaced, spaced_digest = fresh()
    body = {
        "img": "cid:photo@example",
        "notes": ["cid:<notes@x>", "cid:notes@x"],
        # decoded like JavaScript's decodeURI, which leaves %40 ('@') alone
        "named": {"by file name": "cid:my%20clip.mp4", "escaped": "cid:photo%40example"},
        "keep": "cid-less text",
    }
    files = [
        ("attachment", ("a.png", image, "image/png", {"Content-ID": "photo@example"})),
        ("file", ("notes.txt", text, None, {"Content-ID": "<notes@x>"})),
        ("attachment", ("my clip.mp4", spaced, "video/mp4")),
        ("attachment", ("photo%40example", image, "image/png")),
    ]
    response = multipart(po, alice, ds.record("r"), body, files)
    assert response.status_code == 204, response.text
    assert value(po, ds, "r") == {
        "img": link(image_digest, "image/png"),
        # a part without a type is text/plain, as in the original
        "notes": [link(text_digest, "text/plain")] * 2,
        "named": {"by file name": link(spaced_digest), "escaped": link(image_digest, "image/png")},
        "keep": "cid-less text",
    }


def test_cid_rewriting_reaches_keys_sets_and_maps(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    data, digest = fresh()
    body = {
        "cid:a.bin": {"type": "Set", "data": ["cid:a.bin", 1]},
        "m": {"type": "Map", "data": [["cid:a.bin", "cid:a.bin"]]},
    }
    response = multipart(
        po, alice, ds.record("r"), body, [("attachment", ("a.bin", data, "application/x-thing"))]
    )
    assert response.status_code == 204, response.text
    url = link(digest, "application/x-thing")
    assert value(po, ds, "r") == {
        url: {"type": "Set", "data": [url, 1]},
        "m": {"type": "Map", "data": [[url, url]]},
    }
    assert index(po, ds)[1]["r"]["links"] == [url]


def test_a_cid_that_names_no_part_stores_nothing(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    data, digest = fresh()
    before = state(po, alice, ds)
    response = multipart(
        po, alice, ds.record("r"), {"x": "cid:nope.mp4"}, [("a", ("clip.mp4", data, "video/mp4"))]
    )
    assert "missing attachments" in error(response, 400)
    assert state(po, alice, ds) == before
    assert not native_has(alice, digest)  # the upload was thrown away, not stored


def test_uploads_no_record_links_are_discarded(po: httpx.Client, alice: User, ds: Dataset) -> None:
    used, used_digest = fresh()
    spare, spare_digest = fresh(50_000)
    response = multipart(
        po,
        alice,
        ds.record("r"),
        {"clip": "cid:used.mp4"},
        [
            ("attachment", ("used.mp4", used, "video/mp4")),
            ("attachment", ("spare.mp4", spare, "video/mp4")),
        ],
    )
    assert response.status_code == 204, response.text
    assert native_has(alice, used_digest)
    assert not native_has(alice, spare_digest)
    error(po.get(f"/attachments/{spare_digest}"), 404)


def test_a_bulk_write_with_attachments_in_cbor(po: httpx.Client, alice: User, ds: Dataset) -> None:
    one, one_digest = fresh()
    two, two_digest = fresh()
    body = {"a": {"media": "cid:one"}, "b": ["cid:two", "cid:one"], "c": 3}
    response = multipart(
        po,
        alice,
        ds.records,
        body,
        [("attachment", ("one", one, "image/png")), ("attachment", ("two", two, "image/gif"))],
        method="POST",
        body_type="application/cbor",
    )
    assert response.status_code == 204, response.text
    version, records = index(po, ds)
    assert version == 1
    assert records["a"]["links"] == [link(one_digest, "image/png")]
    assert records["b"]["links"] == [link(two_digest, "image/gif"), link(one_digest, "image/png")]
    assert po.get(f"/attachments/{two_digest}").content == two


def test_the_retry_can_send_only_what_is_missing(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    have, have_digest = fresh()
    lack, lack_digest = fresh()
    put_record(po, alice, ds, "first", "x")
    response = multipart(
        po, alice, ds.record("first"), {"v": "cid:have"}, [("a", ("have", have, "video/mp4"))]
    )
    assert response.status_code == 204, response.text
    record = {"old": link(have_digest), "new": link(lack_digest)}
    refused = po.put(ds.record("second"), json=record, auth=basic(alice))
    assert json.loads("[" + refused.headers[RESEND] + "]") == [link(lack_digest)]
    retry = multipart(
        po, alice, ds.record("second"), record, [("attachment", ("new.mp4", lack, "video/mp4"))]
    )
    assert retry.status_code == 204, retry.text
    assert index(po, ds)[1]["second"]["links"] == [link(have_digest), link(lack_digest)]


def test_an_upload_that_is_still_missing_something_is_refused_whole(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    sent, sent_digest = fresh()
    _, absent_digest = fresh()
    before = state(po, alice, ds)
    body = {"a": "cid:sent.mp4", "b": link(absent_digest)}
    response = multipart(
        po, alice, ds.record("r"), body, [("attachment", ("sent.mp4", sent, "video/mp4"))]
    )
    assert response.status_code == 400
    assert json.loads("[" + response.headers[RESEND] + "]") == [link(absent_digest)]
    assert state(po, alice, ds) == before
    error(po.get(f"/attachments/{sent_digest}"), 404)


def test_attachments_and_files_share_one_blob(po: httpx.Client, alice: User, ds: Dataset) -> None:
    data, digest = fresh(20_000)
    response = multipart(
        po, alice, ds.record("r"), ["cid:x"], [("attachment", ("x", data, "image/png"))]
    )
    assert response.status_code == 204, response.text
    # The same bytes through the native API: the server already has them, stored once.
    again = alice.client.put(f"/blobs/{digest}", content=data)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    put_file = alice.client.put(f"{ds.native}/files/copy.png", content=data)
    assert put_file.status_code in (200, 201), put_file.text
    assert put_file.json()["entry"]["sha256"] == digest
    # ...and the other way round: a file's bytes count as an attachment already there.
    other, other_digest = fresh()
    uploaded = alice.client.put(f"{ds.native}/files/other.png", content=other)
    assert uploaded.status_code in (200, 201), uploaded.text
    put_record(po, alice, ds, "s", [link(other_digest, "image/png")])
    assert po.get(f"/attachments/{other_digest}").content == other


def test_malformed_multipart_bodies_are_400(po: httpx.Client, alice: User, ds: Dataset) -> None:
    before = state(po, alice, ds)
    cases = [
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nno colon header\r\n\r\nx\r\n--xyz--\r\n"),
        (
            "multipart/form-data; boundary=xyz",  # never reaches its closing boundary
            b'--xyz\r\nContent-Disposition: form-data; name="body"\r\n\r\n{}',
        ),
    ]
    for content_type, content in cases:
        response = po.put(
            ds.record("r"),
            content=content,
            headers={"Content-Type": content_type},
            auth=basic(alice),
        )
        error(response, 400)
    two_bodies = [("body", ("a", b"1", "application/json")), ("body", ("b", b"2", "text/json"))]
    error(po.put(ds.record("r"), files=two_bodies, auth=basic(alice)), 400)
    unknown = [("body", ("a", b"1", "application/x-unknown"))]
    error(po.put(ds.record("r"), files=unknown, auth=basic(alice)), 400)
    assert state(po, alice, ds) == before


def test_multipart_fields_without_a_body_part(po: httpx.Client, alice: User, ds: Dataset) -> None:
    form = {"recordData": '{"from": "a multipart form"}'}
    response = po.put(ds.record("f"), data=form, files={"x": ("x", b"")}, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert value(po, ds, "f") == {"from": "a multipart form"}
    fields: list[tuple[str, Any]] = [
        ("title", (None, b"plain text")),
        ("count", (None, b"3", "application/json")),
    ]
    response = po.put(ds.record("g"), files=fields, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert value(po, ds, "g") == {"title": "plain text", "count": 3}


def test_strangers_cannot_upload(po: httpx.Client, alice: User, bob: User, ds: Dataset) -> None:
    data, digest = fresh()
    files = [("attachment", ("x", data, "image/png"))]
    body = [("body", ("b", b'["cid:x"]', "application/json")), *files]
    challenge = po.put(ds.record("r"), files=body)
    assert challenge.status_code == 401
    assert po.put(ds.record("r"), files=body, auth=basic(bob)).status_code == 401
    assert not native_has(alice, digest)


def test_an_attachment_only_a_private_dataset_links_is_not_served(
    po: httpx.Client, alice: User, bob: User, ds: Dataset
) -> None:
    data, digest = fresh()
    response = multipart(po, alice, ds.record("r"), ["cid:x"], [("a", ("x", data, "image/png"))])
    assert response.status_code == 204, response.text
    made_private = alice.client.patch(ds.native, json={"visibility": "private"})
    assert made_private.status_code == 200, made_private.text
    error(po.get(f"/attachments/{digest}"), 404)
    error(po.get(f"/attachments/{digest}", auth=basic(bob)), 404)
    error(po.get(f"/attachments/{digest}/meta"), 404)
    assert po.get(f"/attachments/{digest}", auth=basic(alice)).content == data
    linkers = po.get(f"/attachments/{digest}/meta", auth=basic(alice)).json()["linkers"]
    assert linkers == [f"{ds.url}/records/r"]


def test_unknown_and_malformed_attachment_addresses(po: httpx.Client) -> None:
    _, digest = fresh()
    error(po.get(f"/attachments/{digest}"), 404)
    error(po.get(f"/attachments/{digest}/meta"), 404)
    error(po.get("/attachments/not-a-hash"), 404)
    error(po.get(f"/attachments/{digest[:-1]}"), 404)


def test_a_type_that_cannot_be_a_header_is_400(po: httpx.Client, alice: User, ds: Dataset) -> None:
    data, digest = fresh()
    multipart(po, alice, ds.record("r"), ["cid:x"], [("a", ("x", data, "image/png"))])
    for bad in ("text/plain\r\nSet-Cookie: x=1", "vidéo/mp4", "x" * 300):
        error(po.get(f"/attachments/{digest}", params={"type": bad}), 400)
    assert (
        po.get(f"/attachments/{digest}", params={"type": "text/plain; charset=utf-8"}).headers[
            "content-type"
        ]
        == "text/plain; charset=utf-8"
    )


def test_uppercase_hex_names_the_same_attachment(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    data, digest = fresh()
    multipart(po, alice, ds.record("r"), ["cid:x"], [("a", ("x", data, "image/png"))])
    assert po.get(f"/attachments/{digest.upper()}").content == data


def test_meta_lists_only_current_linkers(po: httpx.Client, alice: User, ds: Dataset) -> None:
    data, digest = fresh()
    other = create_dataset(po, alice)
    for target in (ds, other):
        for record_id in ("a", "b"):
            response = multipart(
                po, alice, target.record(record_id), ["cid:x"], [("a", ("x", data, "image/png"))]
            )
            assert response.status_code == 204, response.text
    put_record(po, alice, ds, "a", "no link any more")
    linkers = po.get(f"/attachments/{digest}/meta").json()["linkers"]
    expected = [f"{ds.url}/records/b", f"{other.url}/records/a", f"{other.url}/records/b"]
    assert sorted(linkers) == sorted(expected)


def test_old_versions_keep_their_attachments_until_purged(
    po: httpx.Client, alice: User, ds: Dataset, loft: Loft
) -> None:
    data, digest = fresh(10_000)
    response = multipart(po, alice, ds.record("r"), ["cid:x"], [("a", ("x", data, "image/png"))])
    assert response.status_code == 204, response.text
    put_record(po, alice, ds, "r", "replaced: version 1 still links the attachment")
    assert po.get(f"/attachments/{digest}/meta").json()["linkers"] == []

    loft.blobs.collect_garbage(0)
    assert po.get(f"/attachments/{digest}").content == data  # version 1 holds it
    old = po.get(f"{ds.url}/export/flat-file.json", params={"version": 1}).json()
    assert old[0]["data"] == [link(digest, "image/png")]

    purged = alice.client.delete(ds.native, params={"purge": "true"})
    assert purged.status_code == 204, purged.text
    stored = loft.store.local_path(digest)
    assert stored is not None
    past = time.time() - 3600  # GC spares files written within its grace period
    os.utime(stored, (past, past))
    report = loft.blobs.collect_garbage(0)
    assert report.blobs_removed >= 1
    assert not loft.store.exists(digest)
    error(po.get(f"/attachments/{digest}"), 404)


@pytest.mark.parametrize(
    ("header", "span"),
    [("bytes=0-0", slice(0, 1)), ("bytes=-5", slice(-5, None)), ("bytes=3-", slice(3, None))],
)
def test_attachment_ranges(
    po: httpx.Client, alice: User, ds: Dataset, header: str, span: slice
) -> None:
    data, digest = fresh()
    multipart(po, alice, ds.record("r"), ["cid:x"], [("a", ("x", data, "image/png"))])
    response = po.get(f"/attachments/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == data[span]
    unsatisfiable = po.get(f"/attachments/{digest}", headers={"Range": f"bytes={len(data)}-"})
    assert unsatisfiable.status_code == 416
