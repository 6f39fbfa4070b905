"""The Pbench Server dialect (``/api/v1/...``): the REST API of Red Hat's Pbench Server, for
its ``pbench`` client library, its dashboard and its functional tests.

Errors are ``{"message": ...}`` (Flask-RESTful's shape). Callers are named by
``Authorization: Bearer`` holding either a token of the OpenID Connect provider that
``/api/v1/endpoints`` names (the built-in one, ``core/oidc.py``, or the external issuer
the operator configured) or an API key (a dataloft API token, ``/api/v1/key``). As in
Pbench Server, a token that will not do is no token: the caller is anonymous, and the
access rules then answer 401 where a caller is needed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dataloft.api.front import LoftApp
from dataloft.api.pbench import (
    audit,
    datasets,
    endpoints,
    indices,
    inventory,
    keys,
    server_settings,
    upload,
    visuals,
)
from dataloft.api.pbench.common import gated
from dataloft.api.pipeline import Pipeline
from dataloft.api.registry import Dialect
from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft

PREFIX = "/api/v1"


def render_error(request: Request, status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


def _bearer(loft: Loft, token: str) -> Principal:
    if token.count(".") != 2:  # API tokens hold no dots; JSON Web Tokens hold two
        return loft.auth.authenticate_token(token)
    try:
        return loft.oidc.authenticate(token)
    except Unauthenticated:
        if loft.external_issuer is None:
            raise
        return loft.external_issuer.authenticate(token)


def authenticate(loft: Loft, request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ANONYMOUS
    try:
        return _bearer(loft, token.strip())
    except Unauthenticated:
        return ANONYMOUS  # Pbench Server's rule: an invalid or expired token is no token


def mount(app: LoftApp) -> None:
    routes = Pipeline(app, DIALECT)
    # Pbench's "always enabled" APIs, which a disabled server still answers.
    for module in (endpoints, server_settings, audit):
        for path, handlers in module.ROUTES.items():
            routes.add(PREFIX + path, handlers)
    for module in (keys, upload, indices, datasets, visuals, inventory):
        for path, handlers in module.ROUTES.items():
            routes.add(PREFIX + path, {method: gated(h) for method, h in handlers.items()})


DIALECT = Dialect(
    name="pbench",
    prefixes=(PREFIX + "/",),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
)
