"""dataloft.api.pigeon.CorsHeaders: CORS headers on the dialect's paths, and preflights
answered there without reaching the routes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dataloft.api.pigeon import CorsHeaders
from tests.support import LiveServer

PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization, content-type",
}

# What reached the routes behind the middleware, as "METHOD /path".
REACHED: list[str] = []


async def anything(request: Request) -> PlainTextResponse:
    REACHED.append(f"{request.method} {request.url.path}")
    return PlainTextResponse("routed")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """The middleware in front of one route that answers GET and OPTIONS on any path,
    under uvicorn."""
    routes = [Route("/{path:path}", anything, methods=["GET", "OPTIONS"])]
    live = LiveServer(CorsHeaders(Starlette(routes=routes))).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    REACHED.clear()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def assert_cors(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == (
        "Content-Type, Accept, Authorization"
    )


@pytest.mark.parametrize("path", ["/datasets/alice:signs/records/x", "/authors/", "/auth"])
def test_a_preflight_is_answered_by_the_middleware(client: httpx.Client, path: str) -> None:
    response = client.options(path, headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.content == b""
    assert_cors(response)
    assert response.headers["access-control-allow-methods"] == (
        "GET, HEAD, PUT, POST, DELETE, OPTIONS"
    )
    assert int(response.headers["access-control-max-age"]) > 0
    assert REACHED == []


def test_an_options_that_is_no_preflight_reaches_the_routes(client: httpx.Client) -> None:
    response = client.options("/datasets/alice:signs/", headers={"Origin": "https://a.example"})
    assert response.text == "routed"
    assert_cors(response)
    assert "access-control-allow-methods" not in response.headers
    assert REACHED == ["OPTIONS /datasets/alice:signs/"]


def test_other_dialects_paths_are_left_alone(client: httpx.Client) -> None:
    response = client.options("/loft/v1/datasets", headers=PREFLIGHT)
    assert response.text == "routed"
    assert "access-control-allow-origin" not in response.headers
    assert REACHED == ["OPTIONS /loft/v1/datasets"]


def test_every_dialect_response_carries_cors(client: httpx.Client) -> None:
    assert_cors(client.get("/datasets/"))
