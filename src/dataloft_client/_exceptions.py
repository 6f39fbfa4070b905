"""Every error the client raises on purpose, and the one table from HTTP statuses to them.

    DataloftError
    ├── TransportError           the request or its answer did not make it (httpx's network errors)
    │   ├── ConnectError         no connection: the request was never sent
    │   ├── TimeoutError         the server took too long (also a builtins.TimeoutError)
    │   └── NetworkError         the connection broke mid-request or mid-answer
    ├── APIError                 the server answered with an error status
    │   ├── BadRequest           400
    │   ├── Unauthenticated      401
    │   ├── Forbidden            403
    │   ├── NotFound             404 (and 410)
    │   ├── MethodNotAllowed     405
    │   ├── Conflict             409
    │   ├── PreconditionFailed   412
    │   ├── TooLarge             413
    │   ├── RangeNotSatisfiable  416
    │   ├── TooManyRequests      429
    │   ├── ChecksumMismatch     460, or bytes that do not hash to the digest they came with
    │   └── ServerError          5xx
    │       ├── ServiceUnavailable    503
    │       └── InsufficientStorage   507
    └── StreamClosed             the server ended an event stream (``event: close``)

The network errors are httpx's, mapped at the one place requests are sent, so nobody needs
to catch both trees.
"""

from __future__ import annotations

import builtins
import json

import httpx


class DataloftError(Exception):
    """Base of everything this client raises on purpose. ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransportError(DataloftError):
    """The request or its answer did not make it: whether the server acted on it is not
    known (except for :class:`ConnectError`, which means it was never sent)."""


class ConnectError(TransportError):
    """No connection could be made (refused, unreachable, or too slow to open)."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """The server took longer than the client's ``timeout``."""


class NetworkError(TransportError):
    """The connection broke while the request or its answer was on the way."""


class APIError(DataloftError):
    """The server answered with an error. ``code`` is the server's error code
    (``not_found``, ...), ``message`` its message, ``response`` the ``httpx.Response``
    (its body already read)."""

    def __init__(
        self, status: int, code: str, message: str, response: httpx.Response | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.response = response

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class BadRequest(APIError):
    """400: the request is malformed or breaks a rule."""


class Unauthenticated(APIError):
    """401: log in, or the token is unknown, revoked or expired."""


class Forbidden(APIError):
    """403: known caller, not allowed (read-only tokens on writes too)."""


class NotFound(APIError):
    """404 (or 410): no such thing, or a private thing you may not read."""


class MethodNotAllowed(APIError):
    """405: the path exists, the method does not."""


class Conflict(APIError):
    """409: a name already taken, a file/folder clash, ..."""


class PreconditionFailed(APIError):
    """412: ``parent``, ``If-Match`` or ``If-None-Match`` did not hold."""


class TooLarge(APIError):
    """413: over a limit the message names."""


class RangeNotSatisfiable(APIError):
    """416: the byte range starts past the end."""


class TooManyRequests(APIError):
    """429: wait ``retry_after`` seconds (``None`` if the server did not say)."""

    @property
    def retry_after(self) -> float | None:
        return retry_after(self.response)


class ChecksumMismatch(APIError):
    """Bytes that do not hash to the digest they were sent or served with: the server's
    460 for an upload, or a download whose bytes differ from its ETag (then ``status`` is
    460 too, and ``response`` the download's)."""


class ServerError(APIError):
    """5xx: the server failed (a 500 is a bug of the server's)."""


class ServiceUnavailable(ServerError):
    """503: the server cannot serve now; try again later (``Retry-After``)."""


class InsufficientStorage(ServerError):
    """507: the server has no room left; nothing was saved."""


class StreamClosed(DataloftError):
    """The server ended an event stream on purpose (``event: close``): the token was
    revoked or expired, or the dataset followed can no longer be read. ``reason`` is the
    server's."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the server closed the event stream: {reason}")
        self.reason = reason


# The one table: a status to the class raised for it. Others fall back by their hundred.
STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: NotFound,
    412: PreconditionFailed,
    413: TooLarge,
    416: RangeNotSatisfiable,
    429: TooManyRequests,
    460: ChecksumMismatch,
    503: ServiceUnavailable,
    507: InsufficientStorage,
}


def error_for(response: httpx.Response) -> APIError:
    """The exception for an error answer (its body read): class by status, code and
    message from the server's ``{"error": {"code", "message"}}`` body when it has one."""
    status = response.status_code
    kind = STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIError)
    code, message = _error_body(response)
    return kind(status, code, message, response)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    fallback = response.reason_phrase or f"HTTP {response.status_code}"
    try:
        error = json.loads(response.content)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, TypeError, KeyError):
        # 416 and 304 have no body; a proxy's error page is not ours.
        text = response.text.strip()[:500] if response.content else ""
        return fallback.lower().replace(" ", "_"), text or fallback
    return str(code), str(message)


def retry_after(response: httpx.Response | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (seconds from now)."""
    value = response.headers.get("retry-after") if response is not None else None
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def from_httpx(exc: httpx.TransportError) -> TransportError:
    """httpx's network error as ours (the original stays as ``__cause__``)."""
    where = _where(exc)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ConnectError(f"cannot connect to {where}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{where} took too long: {type(exc).__name__}")
    if isinstance(exc, httpx.NetworkError | httpx.ProtocolError | httpx.ProxyError):
        return NetworkError(f"the connection to {where} broke: {exc or type(exc).__name__}")
    return TransportError(f"{where}: {exc or type(exc).__name__}")


def _where(exc: httpx.TransportError) -> str:
    try:
        request = exc.request
    except RuntimeError:  # raised without a request
        return "the server"
    return f"{request.method} {request.url}"
