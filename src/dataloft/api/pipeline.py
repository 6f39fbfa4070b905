"""The request pipeline: the one path every dialect's requests take to the core and back.

A dialect declares its routes as a path and a table of handlers by method. ``Pipeline``
turns that table into one endpoint which, for each request,

1. picks the handler for the method the dialect reads from the request (``Dialect.
   method_of``: Pigeon Optics lets an HTML form's ``POST ?_method=PUT`` mean PUT), or
   answers 405 with ``Allow``; refuses a state change another site made a browser send
   (``api/csrf.py``);
2. builds the ``Call``: the ``Loft``, the request, and the caller, authenticated once by
   the dialect's own rule (``Dialect.authenticate``) before the handler runs (``public``
   handlers, such as a login form, skip that);
3. runs the handler where its work belongs: a plain handler (``def``) in the threadpool,
   so nothing it does blocks the event loop; a ``quick`` one inline when the database is
   embedded SQLite (a point read costs less than the hop to a thread), and otherwise in the
   threadpool, no more than ``lookup_threads`` of them at once; a ``streaming`` one
   (``async def``) on the event loop, with its caller authenticated beforehand, because it
   moves a body or an event stream and hands each blocking step to ``Call.in_thread``.

A handler raises ``LoftError``s and returns a Starlette ``Response``. It never maps an
error to a status: ``create_app`` renders every ``LoftError`` with the status from
``dataloft.api.errors`` and the body of the dialect that owns the path. The native API's
FastAPI routes get the same ``Call`` through the ``Depends`` in ``dataloft.api.native``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.from_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dataloft.api.csrf import check_same_site
from dataloft.api.errors import MethodNotAllowed
from dataloft.api.memo import KEEP_UNTIL
from dataloft.api.processes import ProcessPool
from dataloft.api.registry import Dialect, request_method
from dataloft.api.threads import in_thread, in_threads_of
from dataloft.api.transfer import read_body
from dataloft.config import Settings
from dataloft.core.access import TOKEN, Principal
from dataloft.core.errors import Invalid
from dataloft.core.loft import Loft
from dataloft.core.pagination import ascii_natural

T = TypeVar("T")
P = ParamSpec("P")


class Call:
    """One request, as a handler sees it: the core, the request, and who is calling."""

    def __init__(self, request: Request, dialect: Dialect) -> None:
        self.request = request
        self.dialect = dialect
        self.loft: Loft = request.app.state.loft
        self._actor: Principal | None = None

    @property
    def settings(self) -> Settings:
        return self.loft.settings

    @property
    def actor(self) -> Principal:
        """The caller, by the dialect's rule, authenticated on first use (which may block:
        the pipeline does it before the handler runs, off the event loop)."""
        if self._actor is None:
            self._actor = self.dialect.authenticate(self.loft, self.request)
        return self._actor

    def authenticate_now(self) -> Principal:
        """Resolve the caller here (a worker thread, or a quick read's inline lookup)."""
        return self.actor

    async def authenticate(self) -> Principal:
        """Resolve the caller from the event loop, off it."""
        if self._actor is None:
            self._actor = await in_thread(self.dialect.authenticate, self.loft, self.request)
        return self._actor

    @property
    def method(self) -> str:
        return self.dialect.method_of(self.request)

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def query(self, name: str) -> str | None:
        # Most reads carry no query string: parsing an empty one still built a QueryParams
        # (about 4 µs, a tenth of a small record GET).
        if not self.request.scope.get("query_string"):
            return None
        return self.request.query_params.get(name)

    def flag(self, name: str) -> bool:
        return (self.query(name) or "").strip().lower() in ("true", "1", "yes")

    def number(self, name: str) -> int | None:
        """A query parameter holding a non-negative integer (a version number), or None."""
        raw = self.query(name)
        if raw is None:
            return None
        number = ascii_natural(raw)
        if number is None:
            raise Invalid(f"{name} must be a non-negative integer, not {raw!r}")
        return number

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def read_body(self, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes), from a handler in the threadpool: the
        event loop receives it while this thread waits."""
        return anyio.from_thread.run(read_body, self.request, limit)

    async def in_thread(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """For streaming handlers: one blocking step, in the threadpool."""
        return await in_thread(function, *args, **kwargs)

    @property
    def processes(self) -> ProcessPool:
        """For streaming handlers: worker processes for CPU-bound work (see
        ``dataloft.api.processes``)."""
        processes: ProcessPool = self.request.app.state.processes
        return processes


class InThread:
    """What a ``quick`` handler returns when the rest of its work is not quick (reading and
    rendering a large record, say): the pipeline runs ``finish`` in the threadpool."""

    def __init__(self, finish: Callable[[], Response]) -> None:
        self.finish = finish


PlainHandler = Callable[[Call], Response | InThread]
StreamingHandler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Handler:
    """A handler and where it runs (see the module docstring)."""

    function: Callable[[Call], Any]
    streaming: bool = False
    quick: bool = False
    # Not authenticated before it runs: it needs no caller, or takes credentials itself
    # (a login form), so a stale Authorization header must not get in its way.
    public: bool = False
    # Its answer may be kept and given again while the database is unchanged (``memo``).
    memo: bool = False

    def __post_init__(self) -> None:
        if inspect.iscoroutinefunction(self.function) != self.streaming:
            kind = "streaming handlers are" if self.streaming else "plain handlers are not"
            raise TypeError(f"{self.function.__qualname__}: {kind} coroutine functions")


# Paths, each with its handlers by method: what a dialect's module hands ``Pipeline.add``.
Routes = Mapping[str, Mapping[str, PlainHandler | Handler]]


def streaming(function: StreamingHandler) -> Handler:
    """Runs on the event loop: it streams a request or response body."""
    return Handler(function, streaming=True)


def quick(function: PlainHandler) -> Handler:
    """A point read: inline on an embedded database, in the threadpool otherwise."""
    return Handler(function, quick=True)


def memo(function: PlainHandler) -> Handler:
    """A quick read whose answer ``api/memo.py`` may keep and give again to the same
    request while the database is unchanged. It must answer from the request (method,
    path, query, headers), the database and content-addressed blobs only: not from the
    time, a file by name or anything else that changes without a commit."""
    return Handler(function, quick=True, memo=True)


def _lookup_threads(call: Call) -> anyio.CapacityLimiter:
    """How many quick handlers run at once on a database server (``lookup_threads``).

    A quick handler spends its thread's time mostly waiting for the database's answers,
    and each answer wakes its thread, which must then take the GIL from the event loop and
    the other threads. With the pool's 40 threads all doing that, the waking and waiting
    cost more than the work: four at a time, each thread running one handler after
    another, nearly doubled what two server processes on two cores serve of small reads
    (``bench/workers.py``). Made on first use, in the event loop that serves."""
    state = call.request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "lookup_threads", None)
    if limiter is None:
        limiter = state.lookup_threads = anyio.CapacityLimiter(call.loft.settings.lookup_threads)
    return limiter


def _allow_keeping(call: Call) -> None:
    """Mark a ``memo`` handler's answer as one to keep: for an anonymous caller or a token,
    no longer than the token lives; never for a password, which is verified anew (its
    check is kept a short while only, ``core/auth.py``)."""
    credential = call.actor.credential
    if credential is None or credential.kind == TOKEN:
        call.request.scope[KEEP_UNTIL] = credential.expires_at if credential else None


def public(function: PlainHandler) -> Handler:
    """Runs without authenticating the caller first (see ``Handler.public``)."""
    return Handler(function, public=True)


class PipelineRoute(Route):
    """A route of the pipeline. ``openapi`` holds the OpenAPI operations of those that are
    part of the documented API (by lower-case method); ``create_app`` adds them to the
    schema FastAPI generates for its own routes."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        methods: list[str],
        openapi: OpenApi,
    ) -> None:
        super().__init__(path, endpoint, methods=methods, include_in_schema=False)
        self.openapi = openapi


OpenApi = Mapping[str, Mapping[str, Any]]
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Pipeline:
    """Adds one dialect's routes to the application."""

    def __init__(self, app: Starlette, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect

    def add(
        self,
        path: str,
        handlers: Mapping[str, PlainHandler | Handler],
        *,
        openapi: OpenApi | None = None,
    ) -> None:
        """A route whose requests ``handlers`` dispatch by method. A GET handler answers
        HEAD too unless the table names one."""
        table = {
            method: h if isinstance(h, Handler) else Handler(h) for method, h in handlers.items()
        }
        if "GET" in table:
            table.setdefault("HEAD", table["GET"])
        allowed = sorted(table)
        dialect = self.dialect

        async def endpoint(request: Request) -> Response:
            method = dialect.method_of(request)
            handler = table.get(method)
            if handler is None:
                raise MethodNotAllowed(f"{method} is not allowed here", allowed)
            check_same_site(request, method)
            call = Call(request, dialect)
            if handler.streaming:
                if not handler.public:
                    await call.authenticate()
                response: Response = await handler.function(call)
                return response

            def run() -> Response | InThread:
                # A quick handler's point lookups share one database connection.
                with call.loft.reading() if handler.quick else nullcontext():
                    if not handler.public:
                        call.authenticate_now()
                    result: Response | InThread = handler.function(call)
                return result

            def finish() -> Response:
                result = run()
                return result.finish() if isinstance(result, InThread) else result

            if handler.quick:
                local = call.loft.db.local
                result = run() if local else await in_threads_of(_lookup_threads(call), run)
                if isinstance(result, InThread):
                    return await in_thread(result.finish)
                if handler.memo and local:
                    _allow_keeping(call)
                return result
            return await in_thread(finish)

        # A request whose method the table lacks goes on to the next route of the same path
        # (the native API serves reads here and writes through FastAPI), unless the dialect
        # reads the method from the request itself: then every request comes here, and the
        # endpoint answers 405.
        methods = allowed if dialect.method_of is request_method else HTTP_METHODS
        self.app.router.routes.append(PipelineRoute(path, endpoint, methods, openapi or {}))
