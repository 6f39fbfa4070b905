"""What ``/openapi.json`` declares beyond FastAPI's defaults (errors in the native shape,
Bearer tokens per operation, raw upload bodies), and the documentation pages, ``/docs`` and
``/redoc``, served whole from this server: they name no asset from elsewhere, and the
assets they name are served with their real types."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataloft.api.docs import ASSETS
from tests.support import LiveServer

PREFIX = "/loft/v1"
# What a browser takes, with nosniff, for a script, a style sheet and an image.
ASSET_TYPES = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
    ".png": {"image/png"},
}


@pytest.fixture(scope="module")
def document(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path, item in document["paths"].items()
        if path.startswith(PREFIX)
        for operation in item.values()
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_elsewhere(server: LiveServer, page: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        html = client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        policy = html.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html.text)
        urls += re.findall(r"""url\s*:\s*["']([^"']+)["']""", html.text)  # the spec's URL
        assert urls, html.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
        assets = [url for url in urls if url.startswith("/docs/assets/")]
        assert len(assets) >= 2
        for url in assets:
            served = client.get(url)
            assert served.status_code == 200, url
            media_type = served.headers["content-type"].split(";")[0]
            assert media_type in ASSET_TYPES[url[url.rindex(".") :]], (url, media_type)
            assert served.headers["x-content-type-options"] == "nosniff"
        assert client.get("/openapi.json").status_code == 200


def test_bearer_tokens_are_declared_and_required_where_login_is(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = _operations(document)
    required: list[dict[str, list[str]]] = [{"bearer": []}]
    optional: list[dict[str, list[str]]] = [{"bearer": []}, {}]
    assert operations["me"]["security"] == required
    assert operations["create_dataset"]["security"] == required
    assert operations["list_licences"]["security"] == optional
    assert operations["get_file"]["security"] == optional  # a pipeline route
    assert operations["put_file"]["security"] == optional  # public datasets answer 401
    assert "security" not in operations["login"]


def test_uploads_are_declared_as_raw_bytes(document: dict[str, Any]) -> None:
    operations = _operations(document)
    binary = {"type": "string", "format": "binary"}
    for operation in ("put_file", "put_blob"):
        content = operations[operation]["requestBody"]["content"]
        assert content["application/octet-stream"]["schema"] == binary, operation
    record = operations["put_record"]["requestBody"]["content"]
    assert set(record) == {"application/json", "application/cbor"}
    archive = operations["archive_zip"]["responses"]["200"]["content"]
    assert archive == {"application/zip": {"schema": binary}}


def test_resumable_uploads_are_declared_with_the_protocols_headers(
    document: dict[str, Any],
) -> None:
    """tus speaks in headers: each one a route reads is a documented parameter (with the
    grammar the server holds it to), each one it answers a documented response header."""
    operations = _operations(document)
    assert operations["upload_options"]["security"] == []  # discovery needs no token
    for name in ("create_upload", "upload_offset", "patch_upload", "terminate_upload"):
        operation = operations[name]
        assert operation["security"] == [{"bearer": []}], name
        resumable = next(p for p in operation["parameters"] if p["name"] == "Tus-Resumable")
        assert resumable["required"] and resumable["schema"]["enum"] == ["1.0.0"], name
        assert "Tus-Version" in operation["responses"]["412"]["headers"], name
    patch = operations["patch_upload"]
    named = {p["name"]: p for p in patch["parameters"]}
    assert named["Upload-Offset"]["schema"] == {"type": "integer", "minimum": 0}
    assert named["Upload-Checksum"]["schema"]["pattern"].startswith("^(?:sha256 ")
    body = patch["requestBody"]["content"]["application/offset+octet-stream"]["schema"]
    assert body == {"type": "string", "format": "binary"}
    assert {"409", "415", "460"} <= set(patch["responses"])
    assert set(patch["responses"]["204"]["headers"]) >= {"Upload-Offset", "Loft-Blob-Sha256"}
    created = operations["create_upload"]
    length = next(p for p in created["parameters"] if p["name"] == "Upload-Length")
    assert length["schema"]["maximum"] == 1024**4  # max_file_size, as Tus-Max-Size
    assert "Location" in created["responses"]["201"]["headers"]


def test_every_operation_documents_its_errors_in_the_native_shape(
    document: dict[str, Any],
) -> None:
    """Bad input is a 400 here, never FastAPI's 422, and every error has the dialect's
    ``{"error": {"code", "message"}}`` body."""
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for name, operation in _operations(document).items():
        responses = operation["responses"]
        assert "422" not in responses, name
        assert {"400", "401"} <= set(responses), name
        for status, response in responses.items():
            if int(status) >= 400 and "content" in response:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (name, status)


def test_links_lead_from_what_creates_to_what_reads(document: dict[str, Any]) -> None:
    operations = _operations(document)
    created = operations["create_dataset"]["responses"]["201"]["links"]["GetDataset"]
    assert created["operationId"] == "get_dataset"
    assert created["parameters"] == {
        "owner": "$response.body#/owner",
        "name": "$response.body#/name",
    }
    put = operations["put_file"]["responses"]["201"]["links"]["GetFile"]
    assert put["operationId"] == "get_file" and put["parameters"]["path"] == "$request.path.path"
    committed = operations["commit"]["responses"]["201"]["links"]["GetVersion"]
    assert committed["parameters"]["number"] == "$response.body#/version/number"
    for operation in operations.values():  # every link names an operation that exists
        for response in operation["responses"].values():
            for target in response.get("links", {}).values():
                assert target["operationId"] in operations, target


def test_a_405_names_every_method_of_the_path(server: LiveServer) -> None:
    """One path is served by several routes (reads through the pipeline, each write a
    FastAPI route): ``Allow`` names the methods of them all."""
    with httpx.Client(base_url=server.url + PREFIX, timeout=30) as client:
        entry = client.request("OPTIONS", "/datasets/someone/something/files/a.txt")
        assert entry.status_code == 405
        assert set(entry.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}
        dataset = client.post("/datasets/someone/something")
        assert dataset.status_code == 405
        assert set(dataset.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


def test_the_third_party_manifest_names_the_assets_served() -> None:
    """docs/third-party.md records the package the docs assets come from, at the version
    installed, and names every file served from it."""
    manifest = (Path(__file__).resolve().parents[2] / "docs" / "third-party.md").read_text()
    assert f"`fastapi-offline` {version('fastapi-offline')}" in manifest
    for asset in ASSETS.iterdir():
        if asset.is_file():
            assert asset.name in manifest, asset.name
