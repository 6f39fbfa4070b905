"""The origin (scheme and host) a client reached this server at, for the absolute URLs that
Pbench's API and the OpenID Connect provider put in their answers.

Behind a reverse proxy the client's host is in ``Forwarded: ...;host=X`` or
``X-Forwarded-Host``, and its scheme in ``Forwarded: ...;proto=`` or ``X-Forwarded-Proto``
(Pbench Server reads the same headers); otherwise the request's own ``Host`` and scheme.
The URLs go back only to the client that sent the headers, so a client that lies about
them misleads no one but itself.
"""

from __future__ import annotations

import re

from starlette.requests import Request

# A host name or address with an optional port: nothing that could break out of a URL.
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def _forwarded(request: Request, name: str) -> str | None:
    """The first proxy's ``name`` parameter of the ``Forwarded`` header (RFC 7239)."""
    header = request.headers.get("forwarded")
    if not header:
        return None
    for part in header.split(",")[0].split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return None


def _first(request: Request, header: str) -> str:
    return request.headers.get(header, "").split(",")[0].strip()


def public_origin(request: Request) -> str:
    """``scheme://host[:port]`` as the client reached this server."""
    host = _forwarded(request, "host") or _first(request, "x-forwarded-host")
    if not _HOST.match(host):
        host = request.headers.get("host", "")
    if not _HOST.match(host):
        port = request.url.port
        host = f"{request.url.hostname}:{port}" if port else str(request.url.hostname)
    proto = (_forwarded(request, "proto") or _first(request, "x-forwarded-proto")).lower()
    scheme = proto if proto in ("http", "https") else request.url.scheme
    return f"{scheme}://{host}"
