"""Request-scoped helpers of the native API: the core, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft


def get_loft(request: Request) -> Loft:
    loft: Loft = request.app.state.loft
    return loft


async def loft_dependency(request: Request) -> Loft:
    """Async so that FastAPI runs it inline instead of in a worker thread."""
    return get_loft(request)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("send your API token as 'Authorization: Bearer <token>'")
    return credentials.strip()


def get_principal(request: Request) -> Principal:
    """Anonymous without an Authorization header; a bad token is a 401 even where
    anonymous access would do, so that clients notice expired tokens."""
    token = bearer_token(request)
    if token is None:
        return ANONYMOUS
    return get_loft(request).auth.authenticate_token(token)


LoftDep = Annotated[Loft, Depends(loft_dependency)]
Actor = Annotated[Principal, Depends(get_principal)]
