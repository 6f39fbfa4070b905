"""DATALOFT_S3_PRESIGNED_DOWNLOADS: a whole-file GET of a blob held in S3 is a 307 to a
presigned URL of the object, which answers with the very Content-Type and
Content-Disposition dataloft would have sent; everything else (HEAD, Range, small files
kept in the database, callers without the right to read) goes on through the server. On a
server of its own, its blobs in a bucket of moto's S3 server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
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
