"""What every request must satisfy before a route sees it, for every dialect.

- Body limits, enforced while the body streams in. JSON endpoints get ``max_json_body``;
  endpoints that stream uploads raise the limit for their request with ``allow_body``. A
  declared ``Content-Length`` over the limit is refused before a byte is read, and a
  chunked body is cut off as soon as it passes the limit.
- JSON bodies that FastAPI decodes for a route (the native API's) are decoded within the
  server's decoding limits (``BoundedJsonRoute``), like every other body.
- A URL that is UTF-8 once percent-decoded (``StrictUrlDecoding``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.errors import status_for
from dataloft.api.threads import in_thread
from dataloft.core.errors import LoftError, TooLarge
from dataloft.core.values import parse_plain_json

BODY_LIMIT_KEY = "dataloft.body_limit"


def allow_body(request: Request, limit: int) -> None:
    request.scope[BODY_LIMIT_KEY] = limit


class BodyTooLarge(TooLarge, HTTPException):
    """The body passed its limit while streaming in: a 413 like any ``TooLarge``.

    It is an ``HTTPException`` too because FastAPI, reading a body for a route, turns
    every other exception into a 400 "error parsing the body"; the pipeline's handler for
    ``LoftError`` still renders it (it comes first in this class's MRO)."""

    def __init__(self, limit: int) -> None:
        message = f"request body exceeds the limit of {limit} bytes"
        TooLarge.__init__(self, message)
        HTTPException.__init__(self, 413, message)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        checked_length = False

        async def limited_receive() -> Message:
            nonlocal received, checked_length
            limit = scope.get(BODY_LIMIT_KEY, self.default_limit)
            if not checked_length:
                checked_length = True
                for name, value in scope["headers"]:
                    if name == b"content-length" and value.isdigit() and int(value) > limit:
                        raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


# --- JSON bodies FastAPI decodes -------------------------------------------------------------

# Bodies up to this size are decoded on the event loop (a hop to a thread would cost more);
# larger ones in a worker thread.
INLINE_JSON_BYTES = 64 * 1024


class RefusedBody(HTTPException):
    """A body FastAPI read for a route, refused by our decoder. An ``HTTPException`` so that
    FastAPI lets it through (it answers any other error while reading a body with a 400
    "There was an error parsing the body"); the app renders it in the dialect's shape, with
    the status and message of the refusal."""

    def __init__(self, error: LoftError) -> None:
        super().__init__(status_for(error) or 400, error.message)


class _BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            limits = self.app.state.settings.decode_limits
            try:
                if len(body) <= INLINE_JSON_BYTES:
                    self._json = parse_plain_json(body, limits)
                else:
                    self._json = await in_thread(parse_plain_json, body, limits)
            except LoftError as error:
                raise RefusedBody(error) from None
        return self._json


class BoundedJsonRoute(APIRoute):
    """A FastAPI route whose JSON body is decoded by ``parse_plain_json``, within the
    server's decoding limits, instead of by ``json.loads`` (which would build any value,
    however many elements, before a model could refuse it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedJsonRequest(request.scope, request.receive))

        return bounded


# --- percent-encoding ------------------------------------------------------------------------

ErrorRenderer = Callable[[Request, int, str], Response]


def undecodable(raw: bytes, part: str) -> str | None:
    """Why ``raw`` (a URL's path or query, as sent) is not UTF-8 once percent-decoded, or
    None when it is."""
    decoded = unquote_to_bytes(raw)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = "".join(f"%{byte:02X}" for byte in decoded[error.start : error.end])
        return (
            f"invalid percent-encoded UTF-8 in the URL {part}: {bad} at byte {error.start} "
            "of the decoded text is not UTF-8"
        )
    return None


class StrictUrlDecoding:
    """Refuses, with a 400 in the dialect's error shape, a request whose path or query
    does not decode as UTF-8 (``/files/%ff%fe``), instead of letting it reach a route as
    something else.

    The ASGI server percent-decodes the path before any of our code sees it, with
    ``urllib.parse.unquote``, whose ``errors="replace"`` turns each bad byte into U+FFFD
    (uvicorn's HTTP protocols; Starlette's ``TestClient`` does the same); Starlette decodes
    the query string the same way. A bad escape would then name another file, quietly:
    ``%ff`` and ``%fe`` both become ``\ufffd``, and a real U+FFFD (``%EF%BF%BD``) would be
    indistinguishable. By the time a convertor or a handler sees the path it is too late
    to tell, so the check reads what the client sent (the scope's ``raw_path`` and
    ``query_string``), once, for every dialect. A server that gives no ``raw_path`` leaves
    the path unchecked."""

    def __init__(self, app: ASGIApp, render: ErrorRenderer) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path: bytes | None = scope.get("raw_path")
            problem = (undecodable(raw_path, "path") if raw_path is not None else None) or (
                undecodable(scope.get("query_string", b""), "query")
            )
            if problem is not None:
                response = self.render(Request(scope, receive), 400, problem)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
