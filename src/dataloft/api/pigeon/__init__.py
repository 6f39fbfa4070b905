"""The Pigeon Optics dialect: ``/datasets/<author>:<name>/...``, ``/lenses/...``, ``/authors/``,
``/auth``.

Errors are the encoded object ``{"error": <message>, "stack": false}`` in the codec the
client asked for (JSON unless it asked for CBOR or JSON Lines); a 401 carries the Basic
challenge. Every response allows any origin, as the original does, so that browser apps on
other sites can read public data, and CORS preflights are answered so that they can also
send credentials and write.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.body_cache import BodyCache
from dataloft.api.front import LoftApp
from dataloft.api.pigeon.auth import REALM, authenticate
from dataloft.api.pigeon.codecs import JSON, encode_value, negotiate
from dataloft.api.pigeon.common import method_of
from dataloft.api.pigeon.routes import ROUTES
from dataloft.api.pipeline import Pipeline
from dataloft.api.registry import Dialect

PREFIXES = ("/datasets/", "/lenses/", "/authors/", "/auth", "/attachments/")
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"Content-Type, Accept, Authorization"),
]


def render_error(request: Request, status: int, message: str) -> Response:
    codec = negotiate(request.headers.get("accept")) or JSON
    headers = {"WWW-Authenticate": REALM} if status == 401 else None
    body = encode_value({"error": message, "stack": False}, codec)
    return Response(body, status_code=status, media_type=codec.media_type, headers=headers)


# What a CORS preflight is told besides CORS: every method the dialect answers, and how
# long (seconds) a browser may reuse the answer before asking again.
PREFLIGHT = [
    (b"access-control-allow-methods", b"GET, HEAD, PUT, POST, DELETE, OPTIONS"),
    (b"access-control-max-age", b"600"),
]


class CorsHeaders:
    """Adds the CORS headers to every response on this dialect's paths, and answers CORS
    preflights there itself.

    A browser sends a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) before
    any cross-site request that carries ``Authorization`` or a JSON/CBOR body. The routes
    know no ``OPTIONS``, and the answer is the same for every path, so it is given here
    without reaching them. Any other ``OPTIONS`` goes on to the routes like any request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not DIALECT.owns(scope["path"]):
            await self.app(scope, receive, send)
            return

        if _is_preflight(scope):
            await send({"type": "http.response.start", "status": 204, "headers": CORS + PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *CORS]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _is_preflight(scope: Scope) -> bool:
    if scope["method"] != "OPTIONS":
        return False
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


def mount(app: LoftApp) -> None:
    app.state.pigeon_indexes = BodyCache(app.state.settings.index_cache_bytes)
    routes = Pipeline(app, DIALECT)
    for path, handlers in ROUTES:
        routes.add(path, handlers)
    app.add_edge(CorsHeaders)


DIALECT = Dialect(
    name="pigeon",
    prefixes=PREFIXES,
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
    method_of=method_of,
)
