"""The baseline for request throughput: a bare Starlette endpoint returning a small JSON
document, served by the same uvicorn settings dataloft uses."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DOCUMENT = {"hello": "world", "n": 1, "tags": ["a", "b"]}


async def record(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


app = Starlette(routes=[Route("/record", record)])
