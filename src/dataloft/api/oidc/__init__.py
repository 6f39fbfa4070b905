"""The built-in OpenID Connect provider's HTTP face, on Keycloak's paths (``/realms/...``,
``/admin/realms/...``), for Pbench's clients and functional tests: they log in at the
``openid.server`` that ``/api/v1/endpoints`` names, which is this server.

Errors take Keycloak's shapes: the token endpoint answers OAuth 2.0's ``{"error",
"error_description"}`` itself (``provider.py``); everything else here is rendered as
Keycloak renders it, ``{"errorMessage": ...}`` for a refused admin request (a clash, a bad
field) and ``{"error": ...}`` otherwise.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dataloft.api.front import LoftApp
from dataloft.api.oidc import provider
from dataloft.api.pipeline import Pipeline
from dataloft.api.registry import Dialect
from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft

# Keycloak's words for a refused bearer token.
_STATUS_WORDS = {401: "HTTP 401 Unauthorized", 403: "HTTP 403 Forbidden"}


def render_error(request: Request, status: int, message: str) -> Response:
    if status in _STATUS_WORDS:
        body = {"error": _STATUS_WORDS[status], "error_description": message}
    elif status in (400, 409):
        body = {"errorMessage": message}
    else:
        body = {"error": message}
    headers = {"WWW-Authenticate": 'Bearer realm="dataloft"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def authenticate(loft: Loft, request: Request) -> Principal:
    """A bearer token of this provider (or a dataloft API token); none is anonymous."""
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("a bearer token is required")
    if token.count(".") == 2:  # a JSON Web Token; API tokens hold no dots
        return loft.oidc.authenticate(token)
    return loft.auth.authenticate_token(token)


def mount(app: LoftApp) -> None:
    routes = Pipeline(app, DIALECT)
    for path, handlers in provider.ROUTES.items():
        routes.add(path, handlers)


DIALECT = Dialect(
    name="oidc",
    prefixes=("/realms/", "/admin/realms/"),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
)
