"""How native API routes (FastAPI) enter the request pipeline: a ``Call`` as a dependency,
and routers whose JSON bodies are decoded within the server's decoding limits.

``NativeCall`` authenticates the caller before the handler runs: inline on an embedded
database (one indexed lookup), in the threadpool otherwise. It depends on ``BEARER`` only
so that OpenAPI documents the credentials: the token itself is read by the dialect's one
rule (``auth.authenticate``). FastAPI runs the plain
(``def``) handlers in the threadpool itself; streaming ones are ``async def`` and hand
blocking steps to ``Call.in_thread``. ``PublicCall`` does not authenticate: for logging in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from dataloft.api.csrf import check_same_site
from dataloft.api.limits import BoundedJsonRoute
from dataloft.api.native import DIALECT
from dataloft.api.native.openapi import BEARER
from dataloft.api.pipeline import Call


async def public_call(request: Request) -> Call:
    check_same_site(request, request.method)
    return Call(request, DIALECT)


async def native_call(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Call:
    call = await public_call(request)
    if call.loft.db.local:
        call.authenticate_now()
    else:
        await call.authenticate()
    return call


NativeCall = Annotated[Call, Depends(native_call)]
PublicCall = Annotated[Call, Depends(public_call)]


def native_router(**options: Any) -> APIRouter:
    """A router of native API routes: every one decodes its JSON body within limits."""
    return APIRouter(route_class=BoundedJsonRoute, **options)
