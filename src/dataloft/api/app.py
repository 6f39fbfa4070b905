"""``create_app(settings)``: the ASGI application with every enabled dialect mounted."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dataloft import __version__
from dataloft.api.errors import status_for
from dataloft.api.limits import BodyLimitMiddleware
from dataloft.api.registry import Dialect
from dataloft.config import Settings
from dataloft.core.errors import LoftError
from dataloft.core.loft import Loft

log = logging.getLogger("dataloft")


def available_dialects() -> dict[str, Dialect]:
    from dataloft.api import algorithmia, native, pigeon

    return {d.name: d for d in (native.DIALECT, algorithmia.DIALECT, pigeon.DIALECT)}


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
    return "invalid request: " + "; ".join(parts)


def create_app(settings: Settings | None = None, loft: Loft | None = None) -> FastAPI:
    settings = settings or Settings()
    dialects = available_dialects()
    enabled = [dialects[name] for name in settings.dialects]
    owns_loft = loft is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_loft:
            app.state.loft.close()

    app = FastAPI(
        title="dataloft",
        version=__version__,
        description="Versioned, content-addressed datasets. Native API under /loft/v1.",
        lifespan=lifespan,
    )
    app.state.loft = loft or Loft(settings)
    app.state.settings = settings

    def renderer_for(request: Request) -> Dialect:
        path = request.url.path
        return next((d for d in enabled if d.owns(path)), dialects["native"])

    @app.exception_handler(LoftError)
    async def _loft_error(request: Request, error: LoftError) -> Response:
        return renderer_for(request).render_error(request, status_for(error), error.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return renderer_for(request).render_error(request, 400, _validation_message(error))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        response = renderer_for(request).render_error(request, error.status_code, str(error.detail))
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return renderer_for(request).render_error(request, 500, "internal server error")

    for dialect in enabled:
        dialect.mount(app)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_json_body)
    return app
