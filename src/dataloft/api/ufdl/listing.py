"""``POST .../list``: every UFDL list takes a filter specification as its body
(``api/ufdl/filter_spec.py``), or none, and answers a bare JSON array of everything that
matches and the caller may see: UFDL has no pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.responses import Response

from dataloft.api.pipeline import Call, PlainHandler
from dataloft.api.ufdl.common import answer, json_body
from dataloft.api.ufdl.filter_spec import parse_filter_spec
from dataloft.core.query_filter import QuerySpec

T = TypeVar("T")


def list_route(
    lister: Callable[[Call, QuerySpec], Iterable[T]], render: Callable[[T], dict[str, Any]]
) -> PlainHandler:
    def listing(call: Call) -> Response:
        spec = parse_filter_spec(json_body(call, optional=True))
        return answer([render(item) for item in lister(call, spec)])

    listing.__name__ = listing.__qualname__ = f"list_{render.__name__.removeprefix('render_')}s"
    return listing
