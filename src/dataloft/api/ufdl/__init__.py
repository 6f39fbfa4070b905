"""The UFDL dialect (``/v1/...``): the API of Waikato's Universal Framework for Deep
Learning, for its python client (``ufdl.pythonclient``) and its other clients.

Errors are ``{"detail": message}`` (Django REST framework's shape). A 401 carries
``WWW-Authenticate: Bearer realm="api"``, and a token that will not do says so with
``"code": "token_not_valid"``, which UFDL's clients answer by refreshing their token. A
clash (a name in use) is a 400 here, as UFDL answers it, not dataloft's usual 409.

Every route takes a trailing slash or none. Algorithmia's ``/v1/data`` and
``/v1/connector/data`` are that dialect's, mounted before this one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dataloft.api.front import LoftApp
from dataloft.api.pipeline import Pipeline, Routes
from dataloft.api.registry import Dialect
from dataloft.api.ufdl import (
    accounts,
    catalogue,
    datasets,
    domain_notes,
    object_detection,
    segmentation,
    tokens,
)
from dataloft.api.ufdl.auth import authenticate
from dataloft.core.web_tokens import INVALID_REFRESH, INVALID_TOKEN

NO_CREDENTIALS = "Authentication credentials were not provided."
_TOKEN_MESSAGES = frozenset({INVALID_TOKEN, INVALID_REFRESH})

ROUTES: Routes = {
    **tokens.ROUTES,
    **accounts.ROUTES,
    **catalogue.ROUTES,
    **datasets.ROUTES,
    **domain_notes.ROUTES,
    **object_detection.ROUTES,
    **segmentation.ROUTES,
}


def render_error(request: Request, status: int, message: str) -> Response:
    body: dict[str, Any] = {"detail": message}
    headers = {}
    if status == 409:
        status = 400
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
        if message in _TOKEN_MESSAGES:
            body["code"] = "token_not_valid"
        elif message.startswith("log in") and "authorization" not in request.headers:
            body["detail"] = NO_CREDENTIALS  # the core's word for an anonymous caller
    return JSONResponse(body, status_code=status, headers=headers)


def mount(app: LoftApp) -> None:
    routes = Pipeline(app, DIALECT)
    for path, handlers in ROUTES.items():
        routes.add(path, handlers)
        routes.add(path + "/", handlers)


DIALECT = Dialect(
    name="ufdl",
    prefixes=("/v1/",),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
)
