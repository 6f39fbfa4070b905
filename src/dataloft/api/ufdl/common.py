"""What every UFDL handler shares: reading a JSON body the way UFDL's server (Django REST
framework) reads one, checking its keys, and rendering times.

A list request may come with no body at all and no Content-Type (the python client sends
that when there is no filter): it means ``{}``. Bodies are JSON, decoded within the
server's decode limits; anything else is a 400 in UFDL's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from dataloft.api.pipeline import Call, PlainHandler
from dataloft.core.errors import Invalid
from dataloft.core.values import parse_plain_json

# A dialect module's routes: path -> method -> handler.

MAX_BODY = 1024 * 1024  # an account or filter body is small; files come another way


def json_body(call: Call, *, optional: bool = False, limit: int = MAX_BODY) -> Any:
    """The request's JSON body (at most ``limit`` bytes); ``None`` for an empty one when
    ``optional``."""
    raw = call.read_body(limit)
    if not raw.strip():
        if optional:
            return None
        raise Invalid("a JSON body is required")
    try:
        return parse_plain_json(raw, call.settings.decode_limits)
    except Invalid as error:
        raise Invalid(f"JSON parse error - {error.message}") from None


def json_object(call: Call, *, optional: bool = False, limit: int = MAX_BODY) -> dict[str, Any]:
    body = json_body(call, optional=optional, limit=limit)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def only_keys(body: dict[str, Any], allowed: Collection[str], what: str = "body") -> None:
    """Refuse keys UFDL's schema does not have (its schemas are strict)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid(f"unknown key(s) in the {what}: {', '.join(unknown)}")


def required(body: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in body]
    if missing:
        raise Invalid("; ".join(f"{name}: This field is required." for name in missing))


def text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    value = body[name]
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"{name}: must be a string of at most {limit} characters")
    return value


def flag(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise Invalid(f"{name}: must be true or false")
    return value


def number(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{name}: must be an integer primary key")
    return value


def put_and_patch(update: Callable[[Call, bool], Response]) -> dict[str, PlainHandler]:
    """PUT (every required field given) and PATCH (any of them) of one update, which
    takes whether the update is partial."""

    def put(call: Call) -> Response:
        return update(call, False)

    def patch(call: Call) -> Response:
        return update(call, True)

    return {"PUT": put, "PATCH": patch}


def pk(call: Call) -> int:
    """The primary key in the path (routes take it with the ``int`` convertor)."""
    value: int = call.request.path_params["pk"]
    return value


def moment(value: datetime | None) -> str | None:
    """UFDL's times: ISO 8601 with the zone's offset (ours are UTC)."""
    return value.isoformat() if value is not None else None


def answer(value: Any, status: int = 200) -> Response:
    return JSONResponse(value, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)
