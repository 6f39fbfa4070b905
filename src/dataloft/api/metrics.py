"""Prometheus metrics: what every request cost, what the core did, and what waits.

The instruments are the process's own (``prometheus_client``'s), made once at import: a
process serves one application. ``dataloft serve --workers N`` runs N processes on one
port, and a scrape reaches one of them; so ``serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before the workers start (``cli/admin.py``), each worker's
instruments then live in files there, and ``exposition`` sums them all. The variable is
read when ``prometheus_client`` is first imported, which in a worker comes after ``serve``
set it. A single process keeps them in memory and exposes the default registry (which
adds the process's own CPU, memory and garbage collector figures).

Requests are labelled with their route's **template** (``/loft/v1/datasets/{owner}/
{name}``), never the path: a path names datasets and users, private ones included, and a
label per path would grow without bound. ``RouteTemplates`` learns every route's template
from the router once, so a request costs a dictionary lookup.

What waits (lens builds, resumable uploads) is counted in the database, for the whole
deployment, when a scrape asks (``Backlog``), at most once per ``BACKLOG_SECONDS`` however
often scrapes come.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from time import perf_counter

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.pipeline import HTTP_METHODS
from dataloft.core.loft import Loft

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"
# From a point read answered from memory to a long upload or archive.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BACKLOG_SECONDS = 5.0

REQUESTS = Counter(
    "dataloft_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
DURATION = Histogram(
    "dataloft_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its response",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
RECEIVED = Counter("dataloft_http_request_bytes", "Request body bytes received", ["route"])
SENT = Counter("dataloft_http_response_bytes", "Response body bytes sent", ["route"])
# "livesum": with several workers, the sum over the workers alive.
IN_PROGRESS = Gauge(
    "dataloft_http_requests_in_progress",
    "HTTP requests being answered",
    multiprocess_mode="livesum",
)
COMMITS = Counter("dataloft_commits", "Dataset versions committed by the server")

_METHODS = frozenset(HTTP_METHODS)


def is_multiprocess() -> bool:
    return MULTIPROCESS_DIR in os.environ


class RouteTemplates:
    """The template of the route that answered a request, by the route object the router
    put in the scope (``scope["route"]``), learnt once from the router's routes (FastAPI's
    included routers flattened, so each route's template has its prefix)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes
        self._contexts = list(iter_route_contexts(routes))
        self._templates = {
            id(context.original_route): context.path_format for context in self._contexts
        }

    def of(self, route: object, method: str, path: str, root_path: str) -> str:
        if route is not None:
            template = self._templates.get(id(route))
            if template is not None:
                return template
        return self.match(method, path, root_path)

    def match(self, method: str, path: str, root_path: str) -> str:
        """The template of the route the router would pick, for a request that left no
        route in the scope: answered before routing (from ``AnswerMemo``, or refused by
        an edge middleware), routed in a copy of the scope (tus' method override), or by
        FastAPI's router to a route that is not its own (``/openapi.json``, a mount)."""
        scope = {"type": "http", "method": method, "path": path, "root_path": root_path}
        partial: str | None = None
        for context in self._contexts:
            match, _ = context.matches(scope)
            if match is Match.FULL:
                return str(context.path_format)
            if match is Match.PARTIAL and partial is None:
                partial = str(context.path_format)
        return partial or UNMATCHED


class _Tally:
    """What the requests of one (method, route, status) cost since the last hand-over,
    and the instruments' children it is handed to (``labels`` costs about 1 µs a call)."""

    __slots__ = ("buckets", "duration", "received", "requests", "seconds", "sent", "series")

    def __init__(self, method: str, template: str, status: int) -> None:
        self.requests = self.received = self.sent = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)  # the last one: +Inf
        self.series = (
            REQUESTS.labels(method, template, str(status)),
            RECEIVED.labels(template),
            SENT.labels(template),
        )
        self.duration = DURATION.labels(method, template)

    def hand_over(self) -> None:
        if not self.requests:
            return
        requests, received, sent = self.series
        requests.inc(self.requests)
        if self.received:
            received.inc(self.received)
        if self.sent:
            sent.inc(self.sent)
        # The histogram's own buckets (one count per bucket, not cumulative) and sum, as
        # ``observe`` adds to them one at a time; ``tests/unit/api/test_metrics.py`` holds
        # the two ways to the same figures.
        for bucket, count in zip(self.duration._buckets, self.buckets, strict=True):
            if count:
                bucket.inc(count)
        self.duration._sum.inc(self.seconds)
        self.requests = self.received = self.sent = 0
        self.seconds = 0.0
        self.buckets = [0] * len(self.buckets)


class RequestCounts:
    """The figures of one application's requests, gathered on its event loop and handed to
    the instruments in batches.

    ``prometheus_client``'s instruments take a lock per update, and ``labels`` a lookup:
    five updates per request cost 4 µs, a third of what a read answered from memory costs
    the application (``bench/record_get.py``). Everything here runs on the event loop's
    one thread, so plain integers do, and they are handed over when this process is
    scraped (exact) and otherwise within ``HAND_OVER_SECONDS`` of a change (so that with
    several workers, the one a scrape reaches reports the others at most that late)."""

    HAND_OVER_SECONDS = 1.0

    def __init__(self) -> None:
        self.in_progress = 0
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._due: asyncio.TimerHandle | None = None

    def began(self) -> None:
        self.in_progress += 1
        if self._due is None:
            self._hand_over_soon()

    def ended(
        self, method: str, template: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        self.in_progress -= 1
        tally = self._tallies.get((method, template, status))
        if tally is None:
            tally = self._tallies[method, template, status] = _Tally(method, template, status)
        tally.requests += 1
        tally.seconds += seconds
        tally.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1  # "le": at most the bound
        tally.received += received
        tally.sent += sent
        if self._due is None:
            self._hand_over_soon()

    def _hand_over_soon(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.call_later(self.HAND_OVER_SECONDS, self._hand_over_due)

    def _hand_over_due(self) -> None:
        self._due = None
        self.hand_over()

    def hand_over(self) -> None:
        """Hand what was counted to the instruments (on the event loop)."""
        for tally in self._tallies.values():
            tally.hand_over()
        IN_PROGRESS.set(self.in_progress)


class RequestMetrics:
    """Counts every HTTP request: by route template, method and status, its duration to
    the last byte of the response (a stream's included), and the body bytes that went
    each way, counted as they pass, never buffered. The outermost middleware, so that
    what the others answer (a refused URL, a body over its limit) counts too."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], counts: RequestCounts) -> None:
        self.app = app
        self.templates = RouteTemplates(routes)
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        # Kept before routing changes them (a mount moves root_path).
        method, path, root_path = scope["method"], scope["path"], scope.get("root_path", "")
        received = sent = 0
        status = 500  # what the server answers if the app raises before it starts one
        start: Message | None = None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal sent, status, start
            kind = message["type"]
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                start = message
                status = message["status"]
            elif kind == "http.response.pathsend" and start is not None:
                sent += _content_length(start)  # the server sends the whole file
            await send(message)

        self.counts.began()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            template = self.templates.of(scope.get("route"), method, path, root_path)
            self.counts.ended(
                method if method in _METHODS else "other",  # a label of bounded values
                template,
                status,
                perf_counter() - started,
                received,
                0 if method == "HEAD" else sent,  # the server drops a HEAD response's body
            )


def _content_length(start: Message) -> int:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0


class Backlog(Collector):
    """What waits, counted in the database for the whole deployment when a scrape asks:
    lens builds running and due, resumable uploads in progress. Counted at most once per
    ``BACKLOG_SECONDS``; scrapes in between get the same figures, so however many come,
    the database answers one count at a time."""

    def __init__(self, loft: Loft) -> None:
        self.loft = loft
        self._lock = threading.Lock()
        self._counted_at = -BACKLOG_SECONDS
        self._figures: tuple[int, int, int] = (0, 0, 0)

    def figures(self) -> tuple[int, int, int]:
        with self._lock:
            now = time.monotonic()
            if now - self._counted_at >= BACKLOG_SECONDS:
                building, due = self.loft.lens_builder.backlog()
                self._figures = building, due, self.loft.uploads.in_progress()
                self._counted_at = now
            return self._figures

    def collect(self) -> Iterable[Metric]:
        building, due, uploads = self.figures()
        yield GaugeMetricFamily(
            "dataloft_lens_builds_running", "Lens builds under way, in every process", building
        )
        yield GaugeMetricFamily(
            "dataloft_lens_builds_due",
            "Lenses whose records are behind their program or inputs (building ones included)",
            due,
        )
        yield GaugeMetricFamily(
            "dataloft_uploads_in_progress", "Resumable uploads unfinished and not expired", uploads
        )


def app_registry(loft: Loft) -> CollectorRegistry:
    """The collectors of one application: its ``Loft``'s backlog. Apart from the process's
    registry, since tests run many applications in one process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Backlog(loft))
    return registry


def exposition(own: CollectorRegistry) -> bytes:
    """Every metric in Prometheus' text format: the process's instruments (with several
    workers, summed over all of them), then the application's ``own``. Blocking: run it
    in a thread."""
    if is_multiprocess():
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    else:
        process = REGISTRY
    return generate_latest(process) + generate_latest(own)


def process_ends() -> None:
    """A worker that leaves (the server's shutdown) takes its live gauges out of the sum;
    its counters stay, since what it counted happened."""
    if is_multiprocess():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
