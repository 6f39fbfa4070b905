"""What Pbench's handlers share: JSON bodies, the authorization refusals in Pbench
Server's words, and the server-state gate every API but three passes through."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.errors import Forbidden, Invalid, Unauthenticated
from dataloft.core.pbench_metadata import MetadataErrors
from dataloft.core.values import parse_plain_json

MAX_BODY = 1024 * 1024  # metadata and settings bodies are small; tarballs come another way
READS = frozenset({"GET", "HEAD"})


def json_body(call: Call, *, optional: bool = False) -> Any:
    raw = call.read_body(MAX_BODY)
    if not raw.strip():
        if optional:
            return None
        raise Invalid("a JSON body is required")
    return parse_plain_json(raw, call.settings.decode_limits)


def metadata_errors(errors: MetadataErrors) -> Response:
    """Pbench's answer to bad metadata: every problem, each in its own words."""
    body = {"message": errors.message, "errors": errors.errors}
    return JSONResponse(body, status_code=400)


def require_admin(call: Call, operation: str) -> None:
    """A server administrative resource: 401 for an anonymous caller, 403 for a user."""
    what = f"{operation} a server administrative resource"
    if call.actor.is_anonymous:
        raise Unauthenticated(f"Unauthenticated client is not authorized to {what}")
    if not call.actor.is_admin:
        raise Forbidden(f"User {call.actor.username} is not authorized to {what}")


def _refusal(call: Call) -> Response | None:
    refusal = call.loft.server_settings.refusal(changes=call.method not in READS)
    return None if refusal is None else JSONResponse(refusal, status_code=503)


def gated(handler: PlainHandler | Handler) -> Handler:
    """``handler`` behind the server-state gate: a disabled server answers 503 with its
    ``server-state`` object, a read-only one does so to every request but reads."""
    found = handler if isinstance(handler, Handler) else Handler(handler)
    inner = found.function
    if inspect.iscoroutinefunction(inner):

        async def streamed(call: Call) -> Response:
            refused = await call.in_thread(_refusal, call)
            return refused if refused is not None else await inner(call)

        return dataclasses.replace(found, function=streamed)

    def plain(call: Call) -> Any:
        refused = _refusal(call)
        return refused if refused is not None else inner(call)

    return dataclasses.replace(found, function=plain)
