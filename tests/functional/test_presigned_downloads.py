"""DATALOFT_S3_PRESIGNED_DOWNLOADS: a whole-file GET of a blob held in S3 is a 307 to a
presigned URL of the object, which answers with the very Content-Type and
Content-Disposition dataloft would have sent; everything else (HEAD, Range, small files
kept in the database, callers without the right to read) goes on through the server. On a
server of its own, its blobs in a bucket of moto's S3 server. The Python client (and so
``dataloft pull``) follows the redirect, without the token, and checks the bytes against
the sha256 the server's 307 names."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft_client import AsyncClient, Client
from tests.client.recording import Recording
from tests.functional.test_safe_downloads import put_file
from tests.s3 import REGION, MotoServer, aws_environment
from tests.support import LiveServer, own_server, unique

BIG = os.urandom(64 * 1024)  # not inline: in the bucket


@pytest.fixture(scope="module")
def presigning(
    settings: Settings, s3_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Loft]]:
    with (
        aws_environment(),
        own_server(
            settings,
            tmp_path_factory.mktemp("presigned"),
            blob_url=f"s3://{s3_server.new_bucket()}/blobs",
            s3_endpoint_url=s3_server.url,
            s3_region=REGION,
            s3_presigned_downloads=True,
            s3_presign_seconds=60,
        ) as served,
    ):
        yield served


@pytest.fixture
def owner(presigning: tuple[LiveServer, Loft]) -> Iterator[tuple[httpx.Client, str]]:
    """A client of a new user's, and the path of a new private dataset of theirs."""
    live, loft = presigning
    username = unique("owner")
    loft.accounts.create_user(SYSTEM, username, "password-" + unique())
    token = loft.auth.create_token(SYSTEM, username=username, name="tests").secret
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.url + "/loft/v1", headers=headers, timeout=30) as client:
        name = unique("ds")
        assert client.post("/datasets", json={"name": name}).status_code == 201
        yield client, f"/datasets/{username}/{name}"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("notes.txt", "text/plain; charset=utf-8"),
        ("page.html", "text/html"),
        ("x.bin", "application/octet-stream"),
    ],
)
def test_a_whole_file_goes_to_the_bucket_with_the_same_headers(
    owner: tuple[httpx.Client, str], s3_server: MotoServer, path: str, media_type: str
) -> None:
    client, dataset = owner
    put_file(client, dataset, path, media_type, BIG)
    url = f"{dataset}/files/{path}"
    through_server = client.head(url)  # HEAD: the headers a GET through the server has
    assert through_server.status_code == 200
    moved = client.get(url)
    assert moved.status_code == 307
    assert moved.headers["cache-control"] == "no-store"
    location = moved.headers["location"]
    assert location.startswith(s3_server.url + "/")
    assert "X-Amz-Signature=" in urlsplit(location).query
    # The bucket answers the presigned URL alone: no credentials of ours go along.
    fetched = httpx.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == BIG
    assert fetched.headers["content-type"] == through_server.headers["content-type"]
    assert fetched.headers.get("content-disposition") == through_server.headers.get(
        "content-disposition"
    )
    if path == "page.html":  # an active type: an attachment from the bucket too
        assert fetched.headers["content-disposition"].startswith("attachment;")


def test_ranges_and_small_files_go_through_the_server(owner: tuple[httpx.Client, str]) -> None:
    client, dataset = owner
    put_file(client, dataset, "big.bin", "application/octet-stream", BIG)
    part = client.get(f"{dataset}/files/big.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == BIG[10:20]
    put_file(client, dataset, "small.txt", "text/plain", b"kept in the database")
    small = client.get(f"{dataset}/files/small.txt")
    assert small.status_code == 200
    assert small.content == b"kept in the database"


def test_no_redirect_for_a_caller_who_may_not_read(
    owner: tuple[httpx.Client, str], presigning: tuple[LiveServer, Loft]
) -> None:
    client, dataset = owner
    put_file(client, dataset, "secret.bin", "application/octet-stream", BIG)
    with httpx.Client(base_url=presigning[0].url + "/loft/v1", timeout=30) as anonymous:
        refused = anonymous.get(f"{dataset}/files/secret.bin")
    assert refused.status_code in (401, 403, 404)
    assert "location" not in refused.headers


def test_the_client_follows_to_the_bucket_without_the_token(
    owner: tuple[httpx.Client, str],
    presigning: tuple[LiveServer, Loft],
    s3_server: MotoServer,
    tmp_path: Path,
) -> None:
    client, dataset = owner
    put_file(client, dataset, "data.bin", "application/octet-stream", BIG)
    repo, digest = dataset.removeprefix("/datasets/"), hashlib.sha256(BIG).hexdigest()
    token = client.headers["Authorization"].removeprefix("Bearer ")
    transport = Recording()
    with Client(presigning[0].url, token, transport=transport) as sdk:
        info = sdk.download_file(repo, "data.bin", tmp_path / "data.bin")
        assert sdk.read_file(repo, "data.bin") == BIG
        with sdk.open_file(repo, "data.bin") as stream:
            assert stream.info.sha256 == digest and stream.info.version == 1
            assert b"".join(stream.iter_bytes()) == BIG
    assert (tmp_path / "data.bin").read_bytes() == BIG
    assert (info.sha256, info.size, info.version) == (digest, len(BIG), 1)
    to_bucket = [sent for sent in transport.sent if sent.origin == s3_server.url]
    assert len(to_bucket) == 3, transport.sent  # each GET went on to the bucket
    assert all("authorization" not in sent.headers for sent in to_bucket)

    async def download() -> None:
        async with AsyncClient(presigning[0].url, token) as asynchronous:
            got = await asynchronous.download_file(repo, "data.bin", tmp_path / "again.bin")
            assert (got.sha256, got.size) == (digest, len(BIG))

    asyncio.run(download())
    assert (tmp_path / "again.bin").read_bytes() == BIG
