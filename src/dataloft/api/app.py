"""``create_app(settings)``: the ASGI application with every enabled dialect mounted."""

from __future__ import annotations

import gc
import logging
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount

from dataloft import __version__
from dataloft.api.convertors import register_convertors
from dataloft.api.docs import mount_docs
from dataloft.api.errors import INTERNAL_MESSAGE, headers_for, status_for, validation_message
from dataloft.api.front import LoftApp
from dataloft.api.limits import BodyLimitMiddleware, StrictUrlDecoding
from dataloft.api.memo import AnswerMemo
from dataloft.api.metrics import COMMITS, RequestCounts, RequestMetrics, process_ends
from dataloft.api.pipeline import HTTP_METHODS, PipelineRoute
from dataloft.api.probes import OperatorEdge, OperatorEndpoints
from dataloft.api.processes import ProcessPool
from dataloft.api.registry import Dialect
from dataloft.api.transfer import NoSniff
from dataloft.config import Settings
from dataloft.core.errors import LoftError, StorageFull
from dataloft.core.loft import Loft
from dataloft.storage import StoreUnavailable

log = logging.getLogger("dataloft")
_CONVERTOR = re.compile(r"{(\w+):\w+}")
SWITCH_INTERVAL = 0.001
FULL_COLLECTION_EVERY = 1000  # younger collections between two full ones (Python: 10)


def available_dialects() -> dict[str, Dialect]:
    from dataloft import web
    from dataloft.api import algorithmia, native, oidc, pbench, pigeon, ufdl

    dialects = (
        native.DIALECT,
        algorithmia.DIALECT,
        pigeon.DIALECT,
        ufdl.DIALECT,
        pbench.DIALECT,
        oidc.DIALECT,
        web.DIALECT,
    )
    return {d.name: d for d in dialects}


def _cause(error: BaseException) -> str:
    """What the system said about the error that ``error`` was raised from: the first line
    of the driver's own message (a SQLAlchemy error's ``orig``), or of the ``OSError``."""
    cause = error.__cause__
    cause = getattr(cause, "orig", None) or cause
    return str(cause).partition("\n")[0] if cause is not None else "no detail"


def tune_for_serving() -> None:
    """Make the process that serves the app answer small requests promptly while a big
    one runs in a thread (run once, when the server starts).

    A full collection of Python's cyclic garbage collector scans every live container
    object while holding the interpreter lock: the 250,000 objects of a 60,000-record bulk
    commit took it 157 ms, 7 times in one commit, and every other request waited. So the
    objects alive at start-up (modules, routes, table metadata) are frozen out of the
    collector's sight, and full collections wait for 1,000 (not 10) younger ones; cyclic
    garbage is still found young, where nearly all of it is. Measured on that commit: no
    full collection at all, and 4.7 s instead of 5.5 s."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def _openapi(app: FastAPI, dialects: list[Dialect], settings: Settings) -> dict[str, Any]:
    """FastAPI's schema of its own routes, plus the documented pipeline routes, completed
    by each dialect with what FastAPI cannot know (``Dialect.document``)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        paths = schema.setdefault("paths", {})
        for route in app.routes:
            if isinstance(route, PipelineRoute) and route.openapi:
                documented = _CONVERTOR.sub(r"{\1}", route.path)
                paths.setdefault(documented, {}).update(route.openapi)
        for dialect in dialects:
            if dialect.document is not None:
                dialect.document(schema, settings)
        app.openapi_schema = schema
    return app.openapi_schema


def _operation_id(route: APIRoute) -> str:
    """The handler's name (``get_dataset``), not FastAPI's path-derived default: links
    and clients name operations by it."""
    return route.name


def allowed_methods(routes: list[BaseRoute], request: Request) -> list[str]:
    """Every method some route of the request's path takes. Starlette's 405 names only
    those of the first route that matched the path, and the native API serves one path
    from several routes (reads through the pipeline, each write a FastAPI route). Asked of
    each route through ``matches``, the one question every kind of route (FastAPI's
    included routers among them) answers; mounts take every method and say nothing."""
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in routes
            if not isinstance(route, Mount)
        )
    ]


def create_app(settings: Settings | None = None, loft: Loft | None = None) -> LoftApp:
    settings = settings or Settings()
    dialects = available_dialects()
    enabled = [dialects[name] for name in settings.dialects]
    owns_loft = loft is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_for_serving()
        app.state.loft.lens_builder.start()
        yield
        app.state.loft.lens_builder.stop()
        app.state.processes.close()
        if owns_loft:
            app.state.loft.close()
        process_ends()

    app = LoftApp(
        title="dataloft",
        version=__version__,
        description="Versioned, content-addressed datasets. Native API under /loft/v1.",
        lifespan=lifespan,
        docs_url=None,  # served by mount_docs, with local assets
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.loft = loft or Loft(settings)
    app.state.loft.commits.on_commit(COMMITS.inc)
    app.state.processes = ProcessPool(settings.worker_processes)
    app.state.settings = settings
    if app.state.loft.db.local:  # SQLite: the database has a mark of its state
        app.keep_answers(AnswerMemo(app.state.loft.auth.clock), app.state.loft.db)

    def renderer_for(request: Request) -> Dialect:
        path = request.url.path
        return next((d for d in enabled if d.owns(path)), dialects["native"])

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, error: StoreUnavailable) -> Response:
        # The operator's to fix (S3 down, credentials refused): one line, and a 503 the
        # client may retry, in the dialect's own shape.
        log.error("%s on %s %s: %s", type(error).__name__, request.method, request.url.path, error)
        message = "the blob store is unavailable: try again later"
        return renderer_for(request).render_error(request, 503, message)

    @app.exception_handler(LoftError)
    async def _loft_error(request: Request, error: LoftError) -> Response:
        status = status_for(error)
        if status is None:  # a class outside the table is a bug, not the caller's fault
            log.error(
                "unmapped %s on %s %s",
                type(error).__name__,
                request.method,
                request.url.path,
                exc_info=error,
            )
            return renderer_for(request).render_error(request, 500, INTERNAL_MESSAGE)
        if isinstance(error, StorageFull):
            # The operator's to fix, not a bug: one line that says which store ran out
            # (with the system's words for it), not a traceback per refused write, written
            # perhaps to the very disk that is full.
            log.error(
                "%s on %s %s: %s (%s)",
                type(error).__name__,
                request.method,
                request.url.path,
                error.message,
                _cause(error),
            )
        elif status >= 500:
            log.error(
                "%s on %s %s: %s",
                type(error).__name__,
                request.method,
                request.url.path,
                error.message,
                exc_info=error,
            )
        response = renderer_for(request).render_error(request, status, error.message)
        response.headers.update(headers_for(error))
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return renderer_for(request).render_error(request, 400, validation_message(error.errors()))

    # Raised by the framework itself (no route matches the path), and for a body that
    # FastAPI reads for a route and our decoder refuses (api/limits.py: RefusedBody).
    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        response = renderer_for(request).render_error(request, error.status_code, str(error.detail))
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        allowed = allowed_methods(app.routes, request) if error.status_code == 405 else []
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return renderer_for(request).render_error(request, 500, INTERNAL_MESSAGE)

    def render_error(request: Request, status: int, message: str) -> Response:
        return renderer_for(request).render_error(request, status, message)

    register_convertors()
    # Added first, so innermost: a dialect's own middleware (Pigeon Optics' CORS headers)
    # still wraps the 400 it answers.
    app.add_edge(StrictUrlDecoding, render=render_error)
    for dialect in enabled:
        dialect.mount(app)
    mount_docs(app)
    # FastAPI adds its /openapi.json route first. It is asked for seldom, and the router
    # (api/front.py the same) tries routes in order, each miss costing every request a
    # match of about 2 µs: it goes last, after the hot reads (no other route takes its path).
    schema = next(r for r in app.router.routes if getattr(r, "path", None) == app.openapi_url)
    app.router.routes.remove(schema)
    app.router.routes.append(schema)
    app.openapi = partial(_openapi, app, enabled, settings)  # type: ignore[method-assign]
    app.add_edge(BodyLimitMiddleware, default_limit=settings.max_json_body)
    # The probes and /metrics: answered before the rest (api/probes.py); routes too, so
    # that the metrics know their templates.
    counts = RequestCounts()
    operator = OperatorEndpoints(app.state.loft, render_error, counts)
    app.router.routes.extend(operator.routes)
    app.add_edge(OperatorEdge, endpoints=operator)
    app.add_edge(NoSniff)  # every response our code answers
    # Outermost: it counts every request, what the others refuse included.
    app.add_edge(RequestMetrics, routes=app.router.routes, counts=counts)
    return app
