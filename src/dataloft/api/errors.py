"""The one table from domain errors to HTTP statuses. Each dialect renders the body in its
own shape; the status comes from here unless the dialect's reference says otherwise."""

from __future__ import annotations

from dataloft.core.errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    Invalid,
    LoftError,
    NotFound,
    PreconditionFailed,
    TooLarge,
    Unauthenticated,
)

STATUS: dict[type[LoftError], int] = {
    DigestMismatch: 400,
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
}

CODES: dict[int, str] = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    500: "internal",
}


def status_for(error: LoftError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400
