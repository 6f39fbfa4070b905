"""The one table from errors to HTTP statuses, and the errors of the HTTP exchange itself.

Domain errors (``dataloft.core.errors``) know nothing of HTTP. Every class of them, and of
the ``ProtocolError`` family below, gets its status here by walking its MRO, so a new
subclass inherits its parent's status; ``tests/unit/api/test_errors.py`` checks that every
``LoftError`` subclass anywhere in the package reaches an entry. An exception that is not a
``LoftError`` is a bug: the pipeline logs it and answers 500. Each dialect renders the body
in its own shape; the status and the headers come from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dataloft.core.errors import (
    ChecksumMismatch,
    Conflict,
    Forbidden,
    Invalid,
    LoftError,
    NotFound,
    PreconditionFailed,
    ServerFault,
    StorageFull,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from dataloft.core.named_versions import Unmergeable


class ProtocolError(LoftError):
    """An error of the HTTP exchange rather than of the domain (a method the route does not
    take, a format it cannot produce). It may need headers to be understood."""

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers: dict[str, str] = dict(headers or {})


class MethodNotAllowed(ProtocolError):
    """The route exists but does not take this method; ``Allow`` lists those it takes."""

    def __init__(self, message: str, allowed: Iterable[str]) -> None:
        super().__init__(message, {"Allow": ", ".join(allowed)})


class NotAcceptable(ProtocolError):
    """The route cannot answer in any format the client accepts (or names)."""


class UnsupportedMediaType(ProtocolError):
    """The request asks for a format the route does not make or take."""


class LengthRequired(ProtocolError):
    """The request must say how long its body is (Pbench's uploads)."""


class UnprocessableContent(ProtocolError):
    """The body is well formed but names parameters the action does not take."""


STATUS: dict[type[LoftError], int] = {
    Invalid: 400,
    ProtocolError: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    NotAcceptable: 406,
    Unmergeable: 406,
    UnsupportedMediaType: 415,
    LengthRequired: 411,
    UnprocessableContent: 422,
    Conflict: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
    TooManyRequests: 429,
    # tus's own status for a request whose bytes do not match their Upload-Checksum.
    ChecksumMismatch: 460,
    ServerFault: 500,
    StorageFull: 507,
    Unavailable: 503,
}

CODES: dict[int, str] = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    416: "range_not_satisfiable",
    460: "checksum_mismatch",
    500: "internal",
    503: "unavailable",
    507: "insufficient_storage",
}

INTERNAL_MESSAGE = "internal server error"


def status_for(error: LoftError) -> int | None:
    """The status of ``error``'s nearest class in the table; None for a class outside it
    (which the pipeline answers with 500 and logs)."""
    for kind in type(error).__mro__:
        status = STATUS.get(kind)
        if status is not None:
            return status
    return None


def headers_for(error: LoftError) -> Mapping[str, str]:
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    return error.headers if isinstance(error, ProtocolError) else {}


def validation_message(problems: Sequence[Any]) -> str:
    """A validation error's problems (pydantic's ``errors()``, FastAPI's too) as one line."""
    parts = []
    for problem in problems:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
    return "invalid request: " + "; ".join(parts)
