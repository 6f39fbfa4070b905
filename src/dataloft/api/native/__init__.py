"""dataloft's own API under ``/loft/v1``: Bearer tokens, JSON bodies, keyset pagination,
errors as ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from dataloft.api.errors import CODES
from dataloft.api.front import LoftApp
from dataloft.api.native.auth import authenticate
from dataloft.api.registry import Dialect
from dataloft.config import Settings

PREFIX = "/loft/v1"


def render_error(request: Request, status: int, message: str) -> Response:
    body = {"error": {"code": CODES.get(status, "error"), "message": message}}
    headers = {"WWW-Authenticate": 'Bearer realm="dataloft"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def mount(app: LoftApp) -> None:
    # The route modules reach this package's DIALECT (through deps), so they are imported
    # once it exists.
    from dataloft.api.native import accounts, contents, datasets, events, lenses, tags, uploads
    from dataloft.api.native.tus import TusProtocol

    # Routes are tried in order, and each miss costs a few microseconds: the most requested
    # ones (reading files and records) go first.
    contents.mount_reads(app)
    app.include_router(contents.writes(), prefix=PREFIX)
    for module in (datasets, tags, lenses, accounts, events, uploads):
        app.include_router(module.router, prefix=PREFIX)
    app.add_edge(TusProtocol, render=render_error)


def document(schema: dict[str, Any], settings: Settings) -> None:
    from dataloft.api.native.openapi import complete

    complete(schema, settings)


DIALECT = Dialect(
    name="native",
    prefixes=("/loft/",),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
    document=document,
)
