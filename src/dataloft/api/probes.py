"""The operators' endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

A load balancer asks ``/healthz`` (is the process answering?) and ``/readyz`` (can it
serve: does the database answer, can the blob store be used?) every few seconds, and
Prometheus scrapes ``/metrics``. So they are answered at the edge (``OperatorEdge``),
before routing, the answer memo, body limits and any dialect's authentication: a dictionary
lookup of the path is all they cost the other requests. Their answers are never cached
(``Cache-Control: no-store``) and HEAD works as GET.

Readiness checks block (a query, a file made in the blob store), and a database that
hangs must give a 503 within ``READY_TIMEOUT``, not a probe that hangs. Each check runs in
a daemon thread of its own, never in the request threadpool: a check that never returns
then holds one idle thread, not one of the pool's, and does not keep the process from
exiting. While it has not returned, later probes wait for the same check rather than
start another, so a hung database costs one thread, however often the probes come.

A failure's reason in the answer is the kind of error only: the probe is unauthenticated,
and a driver's message can name hosts, users and paths. The whole message goes to the log,
once when a check starts failing.

``/metrics`` is for site admins by default (``DATALOFT_METRICS``): it shows traffic
volumes per route, no names, but how busy the server is is the operator's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dataloft.api.errors import headers_for, status_for
from dataloft.api.metrics import RequestCounts, app_registry, exposition
from dataloft.api.native.auth import authenticate as bearer_caller
from dataloft.api.threads import in_thread
from dataloft.core.access import Principal
from dataloft.core.errors import Forbidden, LoftError, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.web.session import authenticate as session_caller

log = logging.getLogger("dataloft.probes")

HEALTH = "/healthz"
READY = "/readyz"
METRICS = "/metrics"
READY_TIMEOUT = 2.0
NO_STORE = {"Cache-Control": "no-store"}
_READS = frozenset({"GET", "HEAD"})

ErrorRenderer = Callable[[Request, int, str], Response]


class Readiness:
    """The readiness checks, each run off the event loop with a deadline (see the module
    docstring)."""

    def __init__(self, checks: Mapping[str, Callable[[], None]]) -> None:
        self._checks = checks
        self._pending: dict[str, asyncio.Future[BaseException | None]] = {}
        self._failing: set[str] = set()

    async def report(self) -> dict[str, str]:
        """Each check's outcome by name: ``ok``, or ``failed: <why>``."""
        futures = {name: self._started(name) for name in self._checks}
        await asyncio.wait(futures.values(), timeout=READY_TIMEOUT)
        report: dict[str, str] = {}
        for name, future in futures.items():
            if not future.done():
                outcome = f"failed: no answer within {READY_TIMEOUT:g} s"
                error: BaseException | str | None = outcome
            else:
                error = future.result()
                outcome = "ok" if error is None else f"failed: {type(error).__name__}"
            report[name] = outcome
            self._note(name, error)
        return report

    def _note(self, name: str, error: BaseException | str | None) -> None:
        if error is None:
            self._failing.discard(name)
        elif name not in self._failing:
            self._failing.add(name)
            log.warning("readiness check %s failed: %s", name, error)

    def _started(self, name: str) -> asyncio.Future[BaseException | None]:
        """The check under way for ``name``, or a new one."""
        loop = asyncio.get_running_loop()
        future = self._pending.get(name)
        if future is not None and future.get_loop() is loop:
            return future
        future = self._pending[name] = loop.create_future()
        future.add_done_callback(lambda _: self._forget(name, future))
        check = self._checks[name]

        def run() -> None:
            try:
                check()
                outcome: BaseException | None = None
            except Exception as error:
                outcome = error
            # RuntimeError: the loop closed meanwhile, and nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, outcome)

        threading.Thread(target=run, name=f"readiness-{name}", daemon=True).start()
        return future

    def _forget(self, name: str, future: asyncio.Future[BaseException | None]) -> None:
        if self._pending.get(name) is future:
            del self._pending[name]


def _settle(future: asyncio.Future[BaseException | None], outcome: BaseException | None) -> None:
    if not future.done():
        future.set_result(outcome)


class OperatorEndpoints:
    """The three endpoints, as routes (``create_app`` adds them to the router too, which
    is where the metrics learn their templates) and as what ``OperatorEdge`` calls."""

    def __init__(self, loft: Loft, render: ErrorRenderer, counts: RequestCounts) -> None:
        self.loft = loft
        self.render = render
        self.counts = counts
        self.readiness = Readiness({"database": loft.db.check, "blob_store": loft.store.check})
        self.registry = app_registry(loft)
        self.routes = [
            Route(HEALTH, self.healthz, methods=["GET"]),
            Route(READY, self.readyz, methods=["GET"]),
            Route(METRICS, self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def readyz(self, request: Request) -> Response:
        report = await self.readiness.report()
        ready = all(outcome == "ok" for outcome in report.values())
        body = {"status": "ready" if ready else "not ready", **report}
        return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)

    async def metrics(self, request: Request) -> Response:
        try:
            access = self.loft.settings.metrics
            if access == "off":
                raise NotFound("no metrics here: DATALOFT_METRICS is off")
            if access == "admin":
                caller = await in_thread(self._caller, request)
                if caller.is_anonymous:
                    raise Unauthenticated(
                        "the metrics are for site admins: send an admin's API token as "
                        "'Authorization: Bearer <token>'"
                    )
                if not caller.is_admin:
                    raise Forbidden("the metrics are for site admins")
        except LoftError as error:
            response = self.render(request, status_for(error) or 500, error.message)
            response.headers.update({**headers_for(error), **NO_STORE})
            return response
        self.counts.hand_over()  # this process's figures, exact to the last request
        body = await in_thread(exposition, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)

    def _caller(self, request: Request) -> Principal:
        """An API token (the native API's rule), else a web session."""
        caller = bearer_caller(self.loft, request)
        return session_caller(self.loft, request) if caller.is_anonymous else caller


class OperatorEdge:
    """Answers the operators' endpoints before anything else sees the request."""

    def __init__(self, app: ASGIApp, endpoints: OperatorEndpoints) -> None:
        self.app = app
        self.routes: dict[str, Route] = {route.path: route for route in endpoints.routes}
        self.render = endpoints.render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # for the metrics' template
        request = Request(scope, receive)
        if scope["method"] in _READS:
            response: Response = await route.endpoint(request)
        else:
            message = f"{scope['method']} is not allowed here"
            response = self.render(request, 405, message)
            response.headers.update({"Allow": "GET, HEAD", **NO_STORE})
        await response(scope, receive, send)
