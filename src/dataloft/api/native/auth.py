"""Who is calling the native API: the dialect's one authentication rule."""

from __future__ import annotations

from starlette.requests import Request

from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft


def authenticate(loft: Loft, request: Request) -> Principal:
    """``Authorization: Bearer <token>``; anonymous without the header. A bad token is a
    401 even where anonymous access would do, so that clients notice expired tokens."""
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("send your API token as 'Authorization: Bearer <token>'")
    return loft.auth.authenticate_token(credentials.strip())
