"""Pigeon Optics exports (reference §4.2-4.4) with raw HTTP: flat files in JSON, JSON Lines
and CBOR with ``?at=`` stubs, zip archives with attachments, and the older documented
``export?encoding=&after=&at=`` and ``zip`` forms."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any
from urllib.parse import unquote

import cbor2
import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    CBOR,
    NDJSON,
    Dataset,
    basic,
    bulk,
    error,
    index,
    put_record,
)
from tests.support import unique
from tests.unit.core.test_portable_names import windows_problem


@pytest.fixture
def history(po: httpx.Client, alice: User, ds: Dataset) -> Dataset:
    """Version 1: a=1, b=2, c=3. Version 2: b=20. Version 3: c deleted, d=4."""
    assert bulk(po, alice, ds, {"a": 1, "b": 2, "c": 3}).status_code == 204
    put_record(po, alice, ds, "b", 20)
    assert bulk(po, alice, ds, {"c": None, "d": {"x": [4]}}).status_code == 204
    return ds


def flat(po: httpx.Client, ds: Dataset, ext: str, **params: Any) -> httpx.Response:
    response = po.get(f"{ds.url}/export/flat-file.{ext}", params=params)
    assert response.status_code == 200, response.text
    return response


def test_flat_file_json(po: httpx.Client, history: Dataset) -> None:
    response = flat(po, history, "json")
    assert response.headers["content-type"].startswith("application/json")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="Export {history.name}.json"')
    assert response.headers["x-version"] == "3"
    _, records = index(po, history)
    entries = response.json()
    assert entries == [
        {"id": "a", "version": 1, "hash": records["a"]["hash"], "data": 1},
        {"id": "b", "version": 2, "hash": records["b"]["hash"], "data": 20},
        {"id": "d", "version": 3, "hash": records["d"]["hash"], "data": {"x": [4]}},
    ]


def test_at_leaves_older_records_as_stubs(po: httpx.Client, history: Dataset) -> None:
    entries = flat(po, history, "json", at=2).json()
    assert [(e["id"], "data" in e) for e in entries] == [("a", False), ("b", True), ("d", True)]
    assert all(set(e) >= {"id", "version", "hash"} for e in entries)
    assert [("data" in e) for e in flat(po, history, "json", at=4).json()] == [False] * 3


def test_flat_file_json_lines_and_cbor(po: httpx.Client, history: Dataset) -> None:
    lines = flat(po, history, "jsonl", at=3)
    assert lines.headers["content-type"] == NDJSON
    parsed = [json.loads(line) for line in lines.text.splitlines()]
    assert [e["id"] for e in parsed] == ["a", "b", "d"]
    assert parsed[2]["data"] == {"x": [4]}
    assert "data" not in parsed[0]

    sequence = flat(po, history, "cbor")
    assert sequence.headers["content-type"] == CBOR
    decoder = cbor2.CBORDecoder(io.BytesIO(sequence.content))
    items = [decoder.decode() for _ in range(3)]
    assert [item["data"] for item in items] == [1, 20, {"x": [4]}]
    assert decoder.fp.read() == b""


def test_flat_file_without_an_extension_follows_accept(
    po: httpx.Client, raw: Any, history: Dataset
) -> None:
    response = raw(CBOR).get(f"{history.url}/export/flat-file")
    assert response.status_code == 200
    assert response.headers["content-type"] == CBOR


def test_an_old_version_can_be_exported(po: httpx.Client, history: Dataset) -> None:
    entries = flat(po, history, "json", version=1).json()
    assert [(e["id"], e["data"]) for e in entries] == [("a", 1), ("b", 2), ("c", 3)]
    assert flat(po, history, "json", version=1).headers["x-version"] == "1"
    error(po.get(f"{history.url}/export/flat-file.json", params={"version": 9}), 404)


def test_bad_export_requests(po: httpx.Client, ds: Dataset, alice: User) -> None:
    assert po.get(f"{ds.url}/export/flat-file.docx").status_code == 406
    error(po.get(f"{ds.url}/export/flat-file.json", params={"at": "soon"}), 400)
    error(po.get(f"{ds.url}/export/flat-file.json", params={"at": "-1"}), 400)
    error(po.get(f"{ds.url}/export/whatever"), 404)
    error(po.get(f"/datasets/{alice.username}:{unique('missing')}/export/flat-file.json"), 404)


def test_a_private_dataset_exports_only_to_those_who_may_read_it(
    po: httpx.Client, alice: User, bob: User, history: Dataset
) -> None:
    response = alice.client.patch(history.native, json={"visibility": "private"})
    assert response.status_code == 200, response.text
    error(po.get(f"{history.url}/export/flat-file.json"), 404)
    error(po.get(f"{history.url}/export/flat-file.json", auth=basic(bob)), 404)
    error(po.get(f"{history.url}/export/archive.json.zip", auth=basic(bob)), 404)
    mine = po.get(f"{history.url}/export/flat-file.json", auth=basic(alice))
    assert [e["id"] for e in mine.json()] == ["a", "b", "d"]


def _zip(response: httpx.Response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    return archive


def test_zip_export_with_attachments(po: httpx.Client, alice: User, ds: Dataset) -> None:
    clip = b"clip bytes " + unique().encode()
    digest = hashlib.sha256(clip).hexdigest()
    url = f"hash://sha256/{digest}?type=video%2Fmp4"
    odd_id = "../../etc/passwd"
    files = [
        ("body", ("body", json.dumps({"v": "cid:c.mp4", odd_id: [url]}).encode(), "text/json")),
        ("attachment", ("c.mp4", clip, "video/mp4")),
    ]
    assert po.post(ds.records, files=files, auth=basic(alice)).status_code == 204

    response = po.get(f"{ds.url}/export/archive.json.zip", params={"attachments": "true"})
    archive = _zip(response)
    assert f'filename="export-{ds.name}-json.zip"' in response.headers["content-disposition"]
    assert archive.comment == f"Archive of {ds.url}".encode()
    names = sorted(archive.namelist())
    assert names == [
        f"attachments/{digest}",
        "records/..%2F..%2Fetc%2Fpasswd.json",  # ids are encoded: no member escapes the root
        "records/v.json",
    ]
    assert json.loads(archive.read("records/v.json")) == url
    assert archive.read(f"attachments/{digest}") == clip

    plain = _zip(po.get(f"{ds.url}/export/archive.cbor.zip"))
    assert sorted(plain.namelist()) == ["records/..%2F..%2Fetc%2Fpasswd.cbor", "records/v.cbor"]
    assert cbor2.loads(plain.read("records/v.cbor")) == url
    assert po.get(f"{ds.url}/export/archive.docx.zip").status_code == 406


def test_zip_export_of_many_records_streams_every_one(
    po: httpx.Client, alice: User, ds: Dataset
) -> None:
    records = {f"r{n:05}": {"n": n, "pad": "x" * 100} for n in range(2500)}
    assert bulk(po, alice, ds, records).status_code == 204
    archive = _zip(po.get(f"{ds.url}/export/archive.jsonl.zip"))
    assert len(archive.namelist()) == 2500
    assert json.loads(archive.read("records/r01234.jsonl")) == records["r01234"]


# Record ids that are no file name on Windows once URL-encoded as the reference says
# (encodeURIComponent keeps "*", and device names), and others that are.
ODD_IDS = ["CON", "con.txt", "AUX ", "a:b", "x.", "y ", "star*", "LPT1", "%41", "ok"]


@pytest.mark.parametrize("url", ["export/archive.json.zip", "zip"])
def test_zip_export_member_names_are_portable(
    po: httpx.Client, alice: User, ds: Dataset, url: str
) -> None:
    """Every member is a name Windows can hold, still the URL-encoded id: URL-decoding a
    member's name gives the id back (a ``*`` and a device name's last letter are encoded
    further, as native archives encode them; the rest is as the reference has it)."""
    assert bulk(po, alice, ds, {rid: {"id": rid} for rid in ODD_IDS}).status_code == 204
    archive = _zip(po.get(f"{ds.url}/{url}"))
    found: dict[str, str] = {}
    for member in archive.namelist():
        folder, _, name = member.partition("/")
        assert windows_problem(name) is None, member
        stem, _, _ = name.rpartition(".")
        decode = cbor2.loads if folder == "cbor" else json.loads
        assert decode(archive.read(member)) == {"id": unquote(stem)}, member
        found[unquote(stem)] = stem
    assert sorted(found) == sorted(ODD_IDS)
    assert found["CON"] == "CO%4E"
    assert found["star*"] == "star%2A"
    assert found["a:b"] == "a%3Ab"  # as encodeURIComponent gives it, not encoded again
    assert found["x."] == "x."  # ".json" follows: no trailing dot
    assert found["ok"] == "ok"


# --- the documented older forms --------------------------------------------------------------


def legacy(po: httpx.Client, ds: Dataset, **params: Any) -> httpx.Response:
    response = po.get(f"{ds.url}/export", params=params)
    assert response.status_code == 200, response.text
    return response


def test_legacy_json_export(po: httpx.Client, history: Dataset) -> None:
    response = legacy(po, history, encoding="json")
    assert response.headers["x-version"] == "3"
    assert response.json() == {"a": 1, "b": 20, "d": {"x": [4]}}


def test_legacy_after_reports_changes_and_deletions(po: httpx.Client, history: Dataset) -> None:
    undefined = {"type": "constant", "data": "undefined"}
    assert legacy(po, history, encoding="json", after=1).json() == {
        "b": 20,
        "d": {"x": [4]},
        "c": undefined,
    }
    assert legacy(po, history, encoding="json", after=2).json() == {"d": {"x": [4]}, "c": undefined}
    assert legacy(po, history, encoding="json", after=3).json() == {}
    assert legacy(po, history, encoding="json", after=99).json() == {}  # ahead: nothing
    # at=v: records of version v or later; deletions since the version before it
    assert legacy(po, history, encoding="json", at=2).json() == {
        "b": 20,
        "d": {"x": [4]},
        "c": undefined,
    }


def test_legacy_json_lines_and_cbor_pairs(po: httpx.Client, history: Dataset) -> None:
    lines = legacy(po, history, encoding="json-lines", after=2).text.splitlines()
    assert [json.loads(line) for line in lines] == [
        ["d", {"x": [4]}],
        ["c", {"type": "constant", "data": "undefined"}],
    ]
    content = legacy(po, history, encoding="cbor", after=2).content
    decoder = cbor2.CBORDecoder(io.BytesIO(content))
    assert decoder.decode() == ["d", {"x": [4]}]
    assert decoder.decode() == ["c", cbor2.undefined]


def test_legacy_export_mistakes(po: httpx.Client, history: Dataset) -> None:
    error(po.get(f"{history.url}/export", params={"encoding": "xml"}), 400)
    error(po.get(f"{history.url}/export", params={"encoding": "json", "after": "x"}), 400)
    both = {"encoding": "json", "after": "1", "at": "2"}
    error(po.get(f"{history.url}/export", params=both), 400)


def test_a_browser_asking_for_the_export_page_gets_links(raw: Any, history: Dataset) -> None:
    response = raw(None).get(f"{history.url}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "flat-file.json" in response.text


def test_legacy_zip_holds_json_and_cbor(po: httpx.Client, history: Dataset) -> None:
    archive = _zip(po.get(f"{history.url}/zip"))
    assert sorted(archive.namelist()) == [
        "cbor/a.cbor",
        "cbor/b.cbor",
        "cbor/d.cbor",
        "json/a.json",
        "json/b.json",
        "json/d.json",
    ]
    assert cbor2.loads(archive.read("cbor/d.cbor")) == {"x": [4]}
