"""Route pieces shared by the dialects."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, get_args

from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from dataloft.core.errors import Invalid


class AnyPathConvertor(Convertor[str]):
    """Like Starlette's ``path``, but also matching newlines: a path with a newline must
    reach validation and get a clear 400, not fall through every route to a 404."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())


class Sha256Convertor(Convertor[str]):
    """A sha256 in hex, either case (content-addressed URLs name blobs this way)."""

    regex = "[0-9a-fA-F]{64}"

    def convert(self, value: str) -> str:
        return value.lower()

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("hex64", Sha256Convertor())


def _as_given(_name: str, raw: str) -> str:
    return raw


def _version_number(name: str, raw: str) -> int:
    if not raw.isdigit() or not raw.isascii():
        raise Invalid(f"{name} must be a non-negative integer, not {raw!r}")
    return int(raw)


class LeanRoute(APIRoute):
    """For the hottest read routes. Declared, validated at start-up and documented like any
    FastAPI route, but served without FastAPI's per-request parameter solving, which here
    costs more than authenticating and reading a record. The endpoint gets the request, its
    path parameters as strings, and its query parameters (``int | None`` ones parsed as
    non-negative integers, ``str | None`` ones as given)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        queries: dict[str, Callable[[str, str], Any]] = {}
        for field in self.dependant.query_params:
            kinds = set(get_args(field.field_info.annotation)) or {field.field_info.annotation}
            if int in kinds:
                queries[field.alias] = _version_number
            elif str in kinds:
                queries[field.alias] = _as_given
            else:
                raise TypeError(f"LeanRoute cannot parse query parameter {field.alias!r}")

        async def handle(request: Request) -> Response:
            arguments: dict[str, Any] = dict(request.path_params)
            query = request.query_params
            for name, parse in queries.items():
                raw = query.get(name)
                arguments[name] = None if raw is None else parse(name, raw)
            response: Response = await endpoint(request=request, **arguments)
            return response

        return handle
