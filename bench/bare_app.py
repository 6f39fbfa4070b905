"""The baseline for request throughput: a bare Starlette endpoint returning a small JSON
document, served by the same uvicorn settings dataloft uses; and ``/body``, the bytes of
the file ``BENCH_BARE_BODY`` names, read once at start-up (a precomputed response)."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DOCUMENT = {"hello": "world", "n": 1, "tags": ["a", "b"]}


async def record(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


_BODY_FILE = os.environ.get("BENCH_BARE_BODY")
BODY = Path(_BODY_FILE).read_bytes() if _BODY_FILE else b""


async def body(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/record", record), Route("/body", body)])
