"""Who the client is on the network: the address failed logins are counted against.

It is the peer address uvicorn saw. Behind a reverse proxy that is the proxy, unless
uvicorn takes the client's address from ``X-Forwarded-For`` (``--forwarded-allow-ips``,
``FORWARDED_ALLOW_IPS``): see docs/operations.md.
"""

from __future__ import annotations

from starlette.requests import Request


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None
