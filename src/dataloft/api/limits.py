"""Request body limits for every route, enforced while the body streams in.

JSON endpoints get ``max_json_body``; endpoints that stream uploads raise the limit for
their request with ``allow_body``. A declared ``Content-Length`` over the limit is refused
before a byte is read, and a chunked body is cut off as soon as it passes the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.core.errors import TooLarge

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
