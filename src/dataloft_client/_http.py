"""What every operation shares: the client's settings (``Context``), sending a request with
retries and error mapping (``send``), URLs of the native API, JSON in and out, and the one
function both executors build ``httpx`` requests with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from dataloft_client._commands import Body, Op, Request, Sleep
from dataloft_client._exceptions import DataloftError, TransportError, error_for
from dataloft_client._retry import RetryPolicy
from dataloft_client.refs import split_repo

API_ROOT = "/loft/v1"
JSON = "application/json"
# The most a listing page may hold: fewer round trips for long listings.
PAGE_SIZE = 1000


@dataclass
class Context:
    """One client's settings, as operations see them. ``token`` changes on ``login``."""

    server: httpx.URL  # the server root, http://host:port
    token: str | None
    policy: RetryPolicy
    resumable_threshold: int
    config_dir: Path | None  # None: where dataloft_client.config says, when needed

    @property
    def api(self) -> str:
        """The API root, under the server root (which may itself have a path, behind a
        proxy): ``http://host:port/prefix/loft/v1``."""
        return str(self.server).rstrip("/") + API_ROOT

    def same_origin(self, url: httpx.URL) -> bool:
        here = self.server
        return (url.scheme, url.host, url.port) == (here.scheme, here.host, here.port)


def send(ctx: Context, request: Request) -> Op[httpx.Response]:
    """Send ``request``; the answer if it is a success (or a 304), else the error for it.
    Failures are retried as ``ctx.policy`` says, sleeping in between."""
    attempt = 0
    while True:
        try:
            response: httpx.Response = yield request
        except TransportError as error:
            wait = ctx.policy.after_failure(request, error, attempt)
            if wait is None:
                raise
        else:
            if response.status_code < 400:
                return response
            wait = ctx.policy.after_answer(request, response, attempt)
            if wait is None:
                raise error_for(response)
        attempt += 1
        yield Sleep(wait)


def call(ctx: Context, request: Request) -> Op[Any]:
    """Send ``request`` and return its JSON answer (``None`` for an empty one)."""
    response = yield from send(ctx, request)
    return read_json(response)


def read_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise DataloftError(
            f"the answer to {response.request.method} {response.request.url} is not JSON"
        ) from exc


def json_request(
    method: str,
    url: str,
    body: Any,
    params: dict[str, str | int] | None = None,
    headers: dict[str, str] | None = None,
) -> Request:
    """A request with a JSON body. NaN and infinities are refused here, as the server
    would refuse them."""
    content = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    return Request(
        method,
        url,
        params=params or {},
        headers={"Content-Type": JSON, **(headers or {})},
        content=content,
    )


def fields(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not None): a body's optional fields."""
    return {key: value for key, value in values.items() if value is not None}


# --- URLs ------------------------------------------------------------------------------------


def segment(text: str) -> str:
    """One URL path segment. Everything but unreserved characters is escaped (``/``, ``?``,
    ``#``, ``%`` included), and a segment of dots is escaped too: httpx would otherwise
    resolve ``a/../b`` to ``b`` before sending, and write to the wrong path."""
    escaped = quote(text, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def path_url(path: str) -> str:
    """A file path (``/``-separated) for a URL, segment by segment."""
    return "/".join(segment(part) for part in path.split("/"))


def dataset_url(repo: str) -> str:
    owner, name = split_repo(repo)
    return f"/datasets/{segment(owner)}/{segment(name)}"


def version_value(version: int | str) -> str:
    """A version for the query string: a number, or a tag's name."""
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise TypeError(f"a version is a number or a tag name, not {version!r}")
    return str(version)


def version_params(version: int | str | None) -> dict[str, str | int]:
    return {} if version is None else {"version": version_value(version)}


def write_params(parent: int | None, message: str | None) -> dict[str, str | int]:
    """The query of a single-entry write: the parent it must follow, its message."""
    return fields(parent=parent, message=message)


def guard_headers(if_match: str | None, if_none_match: bool) -> dict[str, str]:
    """``If-Match`` (a sha256, quoted here unless it is ``*`` or quoted already) and
    ``If-None-Match: *`` for single-entry writes."""
    headers = {}
    if if_match is not None:
        quoted = if_match if if_match == "*" or if_match.endswith('"') else f'"{if_match}"'
        headers["If-Match"] = quoted
    if if_none_match:
        headers["If-None-Match"] = "*"
    return headers


# --- for the executors -----------------------------------------------------------------------


def build(
    http: httpx.Client | httpx.AsyncClient,
    ctx: Context,
    request: Request,
    content: bytes | Iterator[bytes] | AsyncIterator[bytes] | None,
) -> httpx.Request:
    """The ``httpx.Request`` for ``request``. The token goes only to this client's server:
    never to an absolute URL elsewhere (an upload ``Location`` could name any host)."""
    absolute = "://" in request.url
    target = httpx.URL(request.url if absolute else ctx.api + request.url)
    headers = dict(request.headers)
    if ctx.token and ctx.same_origin(target):
        headers["Authorization"] = f"Bearer {ctx.token}"
    if isinstance(request.content, Body):
        # Known in advance: sent as Content-Length rather than chunked, so the server
        # can refuse an oversized body before it arrives.
        headers["Content-Length"] = str(request.content.length)
    return http.build_request(
        request.method, target, params=request.params or None, headers=headers, content=content
    )


# A download the server redirects (a 307 to a presigned URL of the S3 bucket holding the
# file, ``DATALOFT_S3_PRESIGNED_DOWNLOADS``) is followed by the executors, through httpx's
# own next request: the token never goes along to another origin. What the server said of
# the file stays: the bucket's answer carries the bytes, but its ETag is the bucket's (not
# the sha256 the download is checked against) and it knows nothing of versions.
MAX_REDIRECTS = 5


def redirect_of(request: Request, response: httpx.Response, hops: int) -> httpx.Request | None:
    """The request that follows ``response``, the answer to ``request``, when it redirects
    a GET; None otherwise."""
    if request.method != "GET" or not response.has_redirect_location:
        return None
    if hops >= MAX_REDIRECTS:
        raise DataloftError(f"{response.request.url}: more than {MAX_REDIRECTS} redirects")
    return response.next_request


def keep_server_headers(server: httpx.Response, followed: httpx.Response) -> None:
    """``followed``, the redirect target's answer, with what ``server``'s said of the file
    (its ETag and date, the ``X-Loft-*`` headers) in place of the target's."""
    for name, value in server.headers.multi_items():
        if name in ("etag", "last-modified") or name.startswith("x-loft-"):
            followed.headers[name] = value
