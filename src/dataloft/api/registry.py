"""Dialects: each one brings its routes, its rule for who is calling, and its error shape.

``create_app`` mounts the dialects named in ``settings.dialects`` from this shape; a new
dialect is a package under ``dataloft.api`` exposing one ``DIALECT`` (see
docs/architecture.md, "Adding a dialect").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from dataloft.config import Settings
from dataloft.core.access import Principal
from dataloft.core.loft import Loft

if TYPE_CHECKING:  # the app imports the pipeline, which imports this module
    from dataloft.api.front import LoftApp

# (request, status, message) -> the dialect's error response
ErrorRenderer = Callable[[Request, int, str], Response]
# The dialect's credentials rule: the caller, or Unauthenticated. Blocking (it may hash a
# password or query the database); the pipeline calls it off the event loop.
Authenticator = Callable[[Loft, Request], Principal]
# Completes the OpenAPI document (a dict, changed in place) for the dialect's routes: what
# FastAPI cannot learn from them (their errors, their credentials).
Documenter = Callable[[dict[str, Any], Settings], None]


def request_method(request: Request) -> str:
    return request.method


@dataclass(frozen=True)
class Dialect:
    name: str
    prefixes: tuple[str, ...]  # paths this dialect answers (its errors use its renderer)
    mount: Callable[[LoftApp], None]
    render_error: ErrorRenderer
    authenticate: Authenticator
    # The method a request means: its own, unless the dialect lets HTML forms say otherwise.
    method_of: Callable[[Request], str] = request_method
    document: Documenter | None = None

    def owns(self, path: str) -> bool:
        return path.startswith(self.prefixes) or path in self._bare_prefixes

    @cached_property
    def _bare_prefixes(self) -> frozenset[str]:
        """Each prefix without its trailing slash (``/loft`` for ``/loft/``): asked on
        every request (Pigeon Optics' CORS headers), so worked out once."""
        return frozenset(p.rstrip("/") for p in self.prefixes)
