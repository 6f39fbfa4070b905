"""The Algorithmia Data API dialect: ``/v1/data/...`` and its alias
``/v1/connector/data/...``, for the ``algorithmia`` clients (Python, Java, Rust, Node) and
the ``algo`` CLI. Errors are ``{"error": {"message": ...}}`` with the message repeated in
``X-Error-Message`` (a HEAD response has no body to carry it)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from dataloft.api.algorithmia.auth import authenticate
from dataloft.api.algorithmia.routes import HANDLERS
from dataloft.api.front import LoftApp
from dataloft.api.pipeline import Pipeline
from dataloft.api.registry import Dialect

PREFIXES = ("/v1/data", "/v1/connector/data")
# The documented error codes clients may show: unknown key, not allowed.
_CODES = {401: 2002, 403: 2001}


def header_safe(message: str) -> str:
    """Header values must be printable ASCII here: escape everything else."""
    return "".join(ch if " " <= ch <= "~" else ascii(ch)[1:-1] for ch in message)


def render_error(request: Request, status: int, message: str) -> Response:
    error: dict[str, Any] = {"message": message}
    if status in _CODES:
        error["code"] = _CODES[status]
    if request.method == "DELETE":
        error["deleted"] = 0  # a failed delete is one rolled-back commit: nothing went
    headers = {"X-Error-Message": header_safe(message)}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def mount(app: LoftApp) -> None:
    routes = Pipeline(app, DIALECT)
    for prefix in PREFIXES:
        for path in (prefix, prefix + "/{path:anypath}"):
            routes.add(path, HANDLERS)


DIALECT = Dialect(
    name="algorithmia",
    prefixes=tuple(p + "/" for p in PREFIXES),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
)
