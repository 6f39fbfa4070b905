"""``LoftApp``'s short way in for pipeline routes (api/front.py) answers as the long way did:
the route the router would pick, the same exception handlers, the edge middleware around
it. Routes added to a real app, served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from dataloft.api import native, pigeon
from dataloft.api.app import create_app
from dataloft.api.pipeline import Call, Pipeline, quick, streaming
from dataloft.config import Settings
from dataloft.core.errors import NotFound
from dataloft.core.loft import Loft
from tests.support import LiveServer

BASE = "/loft/v1/test-front"


def _fails(call: Call) -> Response:
    raise RuntimeError("a bug in a handler")


def _not_found(call: Call) -> Response:
    raise NotFound("nothing here by that name")


async def _breaks_midway(call: Call) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"the first part"
        raise RuntimeError("the store went away")

    return StreamingResponse(body(), media_type="text/plain")


def _pipeline_answer(call: Call) -> Response:
    return JSONResponse({"by": "pipeline"})


@pytest.fixture(scope="module")
def front(settings: Settings, loft: Loft) -> Iterator[httpx.Client]:
    app = create_app(settings, loft)

    @app.get(BASE + "/taken")
    def fastapi_answer() -> dict[str, str]:
        return {"by": "fastapi"}

    routes = Pipeline(app, native.DIALECT)
    routes.add(BASE + "/fails", {"GET": quick(_fails)})
    routes.add(BASE + "/missing", {"GET": _not_found})
    routes.add(BASE + "/breaks", {"GET": streaming(_breaks_midway)})
    routes.add(BASE + "/taken", {"GET": quick(_pipeline_answer), "DELETE": _pipeline_answer})
    Pipeline(app, pigeon.DIALECT).add("/datasets/test-front", {"GET": quick(_fails)})
    app.router.routes.insert(0, app.router.routes.pop())  # before Pigeon's own /datasets/...
    live = LiveServer(app).start()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client
    live.stop()


def test_an_unexpected_error_is_a_500_in_the_dialect_s_shape(front: httpx.Client) -> None:
    response = front.get(BASE + "/fails")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "bug" not in response.text  # the message stays in the log
    assert response.headers["x-content-type-options"] == "nosniff"
    assert front.get(BASE + "/missing").status_code == 404  # and the server goes on


def test_a_domain_error_gets_its_own_status(front: httpx.Client) -> None:
    response = front.get(BASE + "/missing")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "nothing here by that name"


def test_an_error_after_the_response_started_ends_the_response(front: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        front.get(BASE + "/breaks")


def test_the_route_the_router_would_pick_answers(front: httpx.Client) -> None:
    # FastAPI's route for the path came first: it answers GET; DELETE only the pipeline's.
    assert front.get(BASE + "/taken").json() == {"by": "fastapi"}
    assert front.delete(BASE + "/taken").json() == {"by": "pipeline"}
    refused = front.put(BASE + "/taken")
    assert refused.status_code == 405
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_edge_middleware_wraps_pipeline_answers(front: httpx.Client) -> None:
    response = front.get("/datasets/test-front")  # Pigeon Optics: its CORS headers too
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    bad = front.get(BASE + "/missing%ff")  # strict URL decoding, before any route
    assert bad.status_code == 400
