"""An S3 blob store that stops answering: requests that need it get a 503 in their
dialect's own shape (the operator's problem, which a client may retry), never a 500;
requests that do not need it go on; ``/readyz`` names the store. Against a moto server
of the test's own, stopped half-way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.conftest import ADMIN_PASSWORD
from tests.s3 import REGION, MotoServer, aws_environment
from tests.support import FAST_HASHING, LiveServer


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path / "moto.log").start()
    yield server
    server.stop()


def test_a_store_that_stops_answering_is_a_503(moto: MotoServer, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'loft.sqlite3'}",
        blob_url=f"s3://{moto.new_bucket()}/blobs",
        s3_endpoint_url=moto.url,
        s3_region=REGION,
        admin_password=ADMIN_PASSWORD,
        **FAST_HASHING,
    )
    with aws_environment(), Loft(settings) as loft:
        loft.bootstrap_admin()
        token = loft.auth.create_token(SYSTEM, username="admin").secret
        live = LiveServer(create_app(settings, loft)).start()
        try:
            with httpx.Client(
                base_url=live.url + "/loft/v1",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as native:
                shut_down_mid_way(moto, live, native, token)
        finally:
            live.stop()


def shut_down_mid_way(moto: MotoServer, live: LiveServer, native: httpx.Client, token: str) -> None:
    """Write a file to the bucket, stop the S3 server, and see what each request gets."""
    assert native.post("/datasets", json={"name": "birds"}).status_code == 201
    big = os.urandom(10_000)  # past the inline limit: its bytes are in the bucket
    assert native.put("/datasets/admin/birds/files/big.bin", content=big).is_success
    assert native.put("/datasets/admin/birds/records/robin", json={"n": 1}).is_success

    moto.stop()

    for answer in (
        native.get("/datasets/admin/birds/files/big.bin"),
        native.put("/datasets/admin/birds/files/other.bin", content=os.urandom(10_000)),
    ):
        assert answer.status_code == 503, answer.text
        assert answer.json() == {
            "error": {
                "code": "unavailable",
                "message": "the blob store is unavailable: try again later",
            }
        }
    algorithmia = httpx.get(
        live.url + "/v1/data/admin/birds/big.bin",
        headers={"Authorization": f"Simple {token}"},
        timeout=60,
    )
    assert algorithmia.status_code == 503, algorithmia.text
    assert algorithmia.json()["error"]["message"].startswith("the blob store is")
    # What lives in the database still answers: listings and small records.
    assert native.get("/datasets/admin/birds/files").status_code == 200
    assert native.get("/datasets/admin/birds/records/robin").json() == {"n": 1}
    ready = httpx.get(live.url + "/readyz", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["database"] == "ok"
    assert ready.json()["blob_store"].startswith("failed: ")
