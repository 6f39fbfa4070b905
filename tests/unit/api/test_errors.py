"""The error table is closed: every ``LoftError`` class in the package has a status, errors
of the HTTP exchange carry their headers, an unmapped error is a logged 500, and storage
failures reach callers as the core's errors (507 for a full disk, a logged 500 for bytes
the store lost), never as a bare traceback."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response

import dataloft
from dataloft.api.app import create_app
from dataloft.api.errors import (
    STATUS,
    MethodNotAllowed,
    NotAcceptable,
    ProtocolError,
    headers_for,
    status_for,
)
from dataloft.api.native import DIALECT as NATIVE
from dataloft.api.pipeline import Call, Pipeline
from dataloft.config import Settings
from dataloft.core.blobs import BlobService
from dataloft.core.errors import LoftError, StorageFull
from dataloft.core.loft import Loft
from dataloft.storage.local import LocalBlobStore, _LocalStaged
from tests.conftest import User
from tests.support import LiveServer, unique


def _every_module() -> Iterator[str]:
    for module in pkgutil.walk_packages(dataloft.__path__, "dataloft."):
        if ".migrations" not in module.name:
            yield module.name


def _subclasses(kind: type[LoftError]) -> Iterator[type[LoftError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_loft_error_class_in_the_package_has_a_status() -> None:
    for name in _every_module():
        importlib.import_module(name)
    ours = [k for k in _subclasses(LoftError) if k.__module__.startswith("dataloft.")]
    assert len(ours) >= 15  # the walk found the dialects' own classes too
    unmapped = []
    for kind in ours:
        # status_for looks at the class only; an instance made without __init__ will do.
        error = kind.__new__(kind)
        if status_for(error) is None:
            unmapped.append(kind.__qualname__)
    assert unmapped == []
    assert LoftError not in STATUS  # a class outside the table must not pass silently


def test_statuses_come_from_the_nearest_class() -> None:
    assert status_for(MethodNotAllowed("no", ["GET"])) == 405
    assert status_for(NotAcceptable("no")) == 406
    assert status_for(StorageFull("full")) == 507

    class Unlisted(LoftError):
        pass

    assert status_for(Unlisted("?")) is None


def test_protocol_errors_carry_their_headers() -> None:
    assert headers_for(MethodNotAllowed("no", ["GET", "PUT"])) == {"Allow": "GET, PUT"}
    assert headers_for(ProtocolError("x", {"X-Thing": "1"})) == {"X-Thing": "1"}
    assert headers_for(StorageFull("full")) == {}


# --- over HTTP -------------------------------------------------------------------------------


class _Unmapped(LoftError):
    """A LoftError subclass outside the table, as a careless new dialect might raise."""


def _raise_unmapped(call: Call) -> Response:
    raise _Unmapped("a message that must not reach the client")


def _refuse(call: Call) -> Response:
    raise NotAcceptable("no format for that")


@pytest.fixture(scope="module")
def odd_server(settings: Settings, loft: Loft) -> Iterator[LiveServer]:
    """The real app, plus two native-dialect pipeline routes that raise what no real route
    raises today: the table's edges must hold for the routes of tomorrow."""
    app: FastAPI = create_app(settings, loft)
    routes = Pipeline(app, NATIVE)
    routes.add("/loft/v1/_test/unmapped", {"GET": _raise_unmapped})
    routes.add("/loft/v1/_test/refused", {"GET": _refuse})
    live = LiveServer(app).start()
    yield live
    live.stop()


def test_an_unmapped_error_is_a_logged_500(
    odd_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dataloft"):
        response = httpx.get(odd_server.url + "/loft/v1/_test/unmapped", timeout=30)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal server error"}}
    assert any("_Unmapped" in record.getMessage() for record in caplog.records)


def test_not_acceptable_is_406_in_the_dialect_shape(odd_server: LiveServer) -> None:
    response = httpx.get(odd_server.url + "/loft/v1/_test/refused", timeout=30)
    assert response.status_code == 406
    assert response.json()["error"] == {"code": "not_acceptable", "message": "no format for that"}


def test_a_method_the_route_lacks_is_405_with_allow(odd_server: LiveServer) -> None:
    response = httpx.delete(odd_server.url + "/loft/v1/_test/refused", timeout=30)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_bytes_lost_from_the_store_are_a_logged_500_not_a_traceback(
    alice: User, dataset: str, blob_dir: Path, server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    data = unique("lost").encode() * 2000  # over the inline limit: a file in the store
    put = alice.client.put(f"{dataset}/files/lost.bin", content=data)
    assert put.status_code == 201, put.text
    digest = put.json()["entry"]["sha256"]
    stored = LocalBlobStore(blob_dir).path_of(digest)
    stored.unlink()
    fresh = httpx.Client(base_url=alice.client.base_url, headers=alice.client.headers)
    with caplog.at_level(logging.ERROR, logger="dataloft"), fresh:
        response = fresh.get(f"{dataset}/files/lost.bin", headers={"Range": "bytes=0-9"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert digest in response.json()["error"]["message"]
    assert any("BlobLost" in record.getMessage() for record in caplog.records)


# --- a full disk -----------------------------------------------------------------------------


class _FullDiskStore(LocalBlobStore):
    """A real local store whose staging files write to the kernel's /dev/full: every write
    fails with ENOSPC, exactly as on a full file system."""

    def stage(self) -> _LocalStaged:
        staged = super().stage()
        full = os.open("/dev/full", os.O_WRONLY)
        assert staged._fd is not None
        os.dup2(full, staged._fd)  # the staging descriptor now points at /dev/full
        os.close(full)
        return staged


def test_a_full_disk_is_storage_full_and_leaves_nothing(loft: Loft, tmp_path: Path) -> None:
    store = _FullDiskStore(tmp_path / "blobs")
    blobs = BlobService(loft.db, store, inline_limit=16, max_size=1 << 20)
    upload = blobs.start_upload()
    with pytest.raises(StorageFull) as raised:
        upload.write(b"x" * 1000)
    assert isinstance(raised.value.__cause__, OSError)
    assert raised.value.__cause__.errno == errno.ENOSPC
    assert list(store.digests()) == []
    assert [p for p in store.staging_dir.iterdir()] == []
