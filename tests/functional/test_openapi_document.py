"""The documentation pages, ``/docs`` and ``/redoc``, served whole from this server: they
name no asset from elsewhere, and the assets they name are served with their real types."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

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
