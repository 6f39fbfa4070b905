"""Listings: the API's keyset pages (``{"items", "next_cursor"}``) walked lazily, one page
at a time as the caller iterates, and plain JSON arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dataloft_client._commands import Emit, Listing, Request
from dataloft_client._exceptions import DataloftError
from dataloft_client._http import PAGE_SIZE, Context, call

T = TypeVar("T")


def pages(
    ctx: Context,
    parse: Callable[[Any], T],
    url: str,
    params: dict[str, str | int] | None = None,
    pin: dict[str, str] | None = None,
) -> Listing[T]:
    """Every item of a paged listing. ``pin`` maps query parameters to fields of the first
    page (``{"version": "version"}``): later pages then ask for what the first one showed,
    so a listing of "the head" stays one version while others commit."""
    query: dict[str, str | int] = {**(params or {}), "limit": PAGE_SIZE}
    seen: set[str] = set()
    while True:
        body = yield from call(ctx, Request("GET", url, params=dict(query)))
        for item in body["items"]:
            yield Emit(parse(item))
        cursor = body.get("next_cursor")
        if cursor is None:
            return
        if cursor in seen:
            raise DataloftError(f"the listing {url} gave the cursor {cursor!r} twice")
        seen.add(cursor)
        query["cursor"] = cursor
        for parameter, name in (pin or {}).items():
            if parameter not in query and body.get(name) is not None:
                query[parameter] = body[name]


def items(
    ctx: Context, parse: Callable[[Any], T], url: str, params: dict[str, str | int] | None = None
) -> Listing[T]:
    """Every item of a listing the server sends whole, as a JSON array."""
    body = yield from call(ctx, Request("GET", url, params=params or {}))
    for item in body:
        yield Emit(parse(item))
