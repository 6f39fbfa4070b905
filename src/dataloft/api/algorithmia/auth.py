"""Who is calling the Algorithmia Data API: the dialect's one authentication rule."""

from __future__ import annotations

from starlette.requests import Request

from dataloft.core.access import Principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft


def authenticate(loft: Loft, request: Request) -> Principal:
    """``Simple <key>`` (the documented form), a bare ``<key>`` (what the Python client
    sends) or ``Bearer <token>``. Every key is a dataloft API token."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise Unauthenticated("authorization required: send 'Authorization: Simple <API key>'")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() in ("simple", "bearer") and rest.strip():
        key = rest.strip()
    elif not rest:
        key = header
    else:
        raise Unauthenticated("send your API key as 'Authorization: Simple <API key>'")
    return loft.auth.authenticate_token(key)
