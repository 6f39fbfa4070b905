"""A full disk is a clear answer in Pigeon Optics: every record write (one record or a bulk
body, in each encoding, as an HTML form, as multipart with attachments) answers 507 with
``{"error": <message>, "stack": false}`` in the codec the client accepts, keeps nothing,
and succeeds once there is room again; the index, records, attachments and exports go on
meanwhile. The server has a small disk of its own (``tests/full_disk.py``), which is its
temporary directory too: large bodies are handed to worker processes through files there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cbor2
import httpx
import msgpack
import pytest

from tests.full_disk import (
    STORED,
    FullDiskServer,
    needs_room_only_for_rows,
    pigeon_message,
    refused_for_want_of_space,
)
from tests.support import unique

JSON = "application/json"
CBOR = "application/cbor"


def _value() -> dict[str, str]:
    """A record value whose encoding goes to the blob store (larger than the inline limit)."""
    return {"text": os.urandom(STORED // 2).hex()}


@dataclass(frozen=True)
class Existing:
    """A dataset with a record linking an attachment, written while the disk had room."""

    client: httpx.Client  # Basic credentials, Accept: application/json
    url: str  # /datasets/<author>:<name>
    value: dict[str, Any]
    clip: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.clip).hexdigest()

    def reads(self) -> None:
        client, url = self.client, self.url
        info = client.get(url).json()
        assert info["version"] == 1 and list(info["records"]) == ["kept"]
        index = client.get(f"{url}/records/")
        assert index.status_code == 200 and list(index.json()) == ["kept"]
        record = client.get(f"{url}/records/kept")
        assert record.status_code == 200 and record.json() == self.value
        as_cbor = client.get(f"{url}/records/kept", headers={"Accept": CBOR})
        assert cbor2.loads(as_cbor.content) == self.value
        attachment = client.get(f"/attachments/{self.digest}", params={"type": "video/mp4"})
        assert attachment.status_code == 200 and attachment.content == self.clip
        flat = client.get(f"{url}/export/flat-file.json")
        assert [item["id"] for item in flat.json()] == ["kept"]
        archive = client.get(f"{url}/export/archive.json.zip", params={"attachments": "true"})
        members = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert sorted(members) == [f"attachments/{self.digest}", "records/kept.json"]


def _basic_client(full: FullDiskServer) -> httpx.Client:
    writer = full.writer
    return httpx.Client(
        base_url=full.url,
        auth=(writer.username, writer.password),
        headers={"Accept": JSON},
        timeout=60,
    )


@pytest.fixture
def existing(full_disk: FullDiskServer) -> Iterator[Existing]:
    with _basic_client(full_disk) as client:
        name = unique("ds")
        assert client.put("/datasets/create", json={"name": name}).status_code == 303
        url = f"/datasets/{full_disk.writer.username}:{name}"
        clip = os.urandom(STORED)
        value: dict[str, Any] = {"clip": "cid:clip.mp4", **_value()}
        files = _multipart(value, clip)
        assert client.put(f"{url}/records/kept", files=files).status_code == 204
        value["clip"] = f"hash://sha256/{hashlib.sha256(clip).hexdigest()}?type=video%2Fmp4"
        yield Existing(client, url, value, clip)


def _multipart(value: Any, clip: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("body", ("body", json.dumps(value).encode(), JSON)),
        ("attachment", ("clip.mp4", clip, "video/mp4")),
    ]


def _records(count: int) -> dict[str, dict[str, str]]:
    return {f"r{n}": _value() for n in range(count)}


# How each encoding writes one value, and a bulk body of (id, value) pairs.
ONE: dict[str, tuple[str, Callable[[Any], bytes]]] = {
    "json": (JSON, lambda value: json.dumps(value).encode()),
    "cbor": (CBOR, cbor2.dumps),
    "yaml": ("application/yaml", lambda value: json.dumps(value).encode()),  # JSON is YAML
    "msgpack": ("application/msgpack", msgpack.packb),
}
BULK: dict[str, tuple[str, Callable[[dict[str, Any]], bytes]]] = {
    "json": (JSON, lambda records: json.dumps(records).encode()),
    "json-lines": (
        "application/x-ndjson",
        lambda records: "\n".join(json.dumps([k, v]) for k, v in records.items()).encode(),
    ),
    "cbor": (CBOR, lambda records: b"".join(cbor2.dumps([k, v]) for k, v in records.items())),
    "yaml": ("application/yaml", lambda records: json.dumps(records).encode()),
    "msgpack": (
        "application/msgpack",
        lambda records: b"".join(msgpack.packb([k, v]) for k, v in records.items()),
    ),
}


def _writes() -> dict[str, Callable[[Existing], Callable[[], httpx.Response]]]:
    """Every kind of record write, by name: each makes its body once, so that the write
    refused and the write retried are the same."""

    def one(media_type: str, encode: Callable[[Any], bytes]) -> Any:
        def make(existing: Existing) -> Callable[[], httpx.Response]:
            body, headers = encode(_value()), {"Content-Type": media_type}
            url = f"{existing.url}/records/new"
            return lambda: existing.client.put(url, content=body, headers=headers)

        return make

    def bulk(media_type: str, encode: Callable[[dict[str, Any]], bytes], method: str) -> Any:
        def make(existing: Existing) -> Callable[[], httpx.Response]:
            body, headers = encode(_records(3)), {"Content-Type": media_type}
            url = f"{existing.url}/records/"
            return lambda: existing.client.request(method, url, content=body, headers=headers)

        return make

    def form(existing: Existing) -> Callable[[], httpx.Response]:
        fields = {"recordData": json.dumps(_value())}
        return lambda: existing.client.put(f"{existing.url}/records/new", data=fields)

    def attachment(existing: Existing) -> Callable[[], httpx.Response]:
        # The record itself is small: only the attachment's bytes need the disk.
        files = _multipart({"clip": "cid:clip.mp4"}, os.urandom(STORED))
        return lambda: existing.client.put(f"{existing.url}/records/new", files=files)

    def large_bulk(existing: Existing) -> Callable[[], httpx.Response]:
        # Past 1 MiB a body is decoded in a worker process, handed over in a file.
        records = {f"r{n:05}": {"n": n, "pad": "x" * 100} for n in range(12_000)}
        body = json.dumps(records).encode()
        assert len(body) > 1024 * 1024
        headers = {"Content-Type": JSON}
        return lambda: existing.client.post(
            f"{existing.url}/records/", content=body, headers=headers
        )

    def cbor_answer(existing: Existing) -> Callable[[], httpx.Response]:
        body, headers = json.dumps(_value()).encode(), {"Content-Type": JSON, "Accept": CBOR}
        url = f"{existing.url}/records/new"
        return lambda: existing.client.put(url, content=body, headers=headers)

    writes = {f"one-{name}": one(*codec) for name, codec in ONE.items()}
    writes |= {f"merge-{name}": bulk(*codec, "POST") for name, codec in BULK.items()}
    writes |= {f"overwrite-{name}": bulk(*codec, "PUT") for name, codec in BULK.items()}
    writes |= {
        "html-form": form,
        "multipart-attachment": attachment,
        "large-bulk-in-a-worker": large_bulk,
        "error-in-cbor": cbor_answer,
    }
    return writes


WRITES = _writes()


@pytest.mark.parametrize("kind", WRITES)
def test_a_record_write_on_a_full_disk_is_507_and_keeps_nothing(
    full_disk: FullDiskServer, existing: Existing, kind: str
) -> None:
    refused_for_want_of_space(full_disk, WRITES[kind](existing), pigeon_message, existing.reads)


def test_creating_a_dataset_needs_room_only_where_the_database_is(
    full_disk: FullDiskServer,
) -> None:
    with _basic_client(full_disk) as client:
        create = {"name": unique("ds")}
        needs_room_only_for_rows(
            full_disk, lambda: client.put("/datasets/create", json=create), pigeon_message, 303
        )
