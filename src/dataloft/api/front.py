"""``LoftApp``: the FastAPI application, with a short way in for the pipeline's routes.

A request used to climb ten layers before its handler ran: FastAPI's telemetry check,
Starlette's error and exception middleware, FastAPI's body-limit and exit-stack
middleware, the router, the route's request/response wrapper, and our own middleware in
between. For a small record GET that was 24 µs of the 61 µs the application spent on it
(``bench/record_get.py`` measures the whole request against a bare Starlette endpoint).

So a request that the router would give to a ``PipelineRoute`` (every dialect's reads and
most of its writes) goes from the edge middleware straight to the route's endpoint:

- the route is the one the router would pick: the first route, in the router's order,
  whose ``matches`` is a full match; when that is not a pipeline route, or no route
  matches fully (404, 405, mounts), the request takes FastAPI's whole way, as does every
  request that is not HTTP (the lifespan);
- errors reach the same exception handlers, chosen the way Starlette chooses (the first
  class of the exception's method resolution order with a handler). One that only the
  handler for ``Exception`` takes gets its 500, and that handler logs it; unlike
  Starlette's ``ServerErrorMiddleware`` this does not raise it again, which made the
  server log it twice and close a connection the client could have gone on using. An
  error after the response started is raised as it is: the server ends the response.

The edge middleware (``add_edge``: security headers, body limits, strict URLs, a
dialect's CORS headers) wraps both ways, where ``add_middleware`` would have put it inside
FastAPI's layers only.

Before any of that, a read that was answered before may be answered again from the
``AnswerMemo`` (``api/memo.py``), when ``create_app`` gives the app one (on SQLite).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.memo import AnswerMemo, memo_key
from dataloft.api.pipeline import PipelineRoute
from dataloft.db.engine import Database

_READS = frozenset({"GET", "HEAD"})


class LoftApp(FastAPI):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._edge: list[tuple[type[Any], dict[str, Any]]] = []
        self._front: ASGIApp | None = None
        self._memo: tuple[AnswerMemo, Database] | None = None

    def keep_answers(self, memo: AnswerMemo, db: Database) -> None:
        """Answer repeated reads from ``memo`` while ``db`` is unchanged."""
        self._memo = memo, db

    @property
    def memo(self) -> AnswerMemo | None:
        return self._memo[0] if self._memo is not None else None

    def add_edge(self, middleware: type[Any], **options: Any) -> None:
        """Wrap every request, both ways in, with ``middleware`` (an ASGI middleware class
        taking the app and ``options``); the last added is the outermost."""
        if self._front is not None:
            raise RuntimeError("edge middleware must be added before the first request")
        self._edge.append((middleware, options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._front is None:
            front: ASGIApp = self._dispatch
            for middleware, options in self._edge:
                front = middleware(front, **options)
            self._front = front
        scope["app"] = self
        await self._front(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._memo is not None and scope["method"] in _READS:
                memo, db = self._memo
                mark = db.state_mark()  # before the handler reads anything
                if mark is not None:
                    key = memo_key(scope)
                    if await memo.answer(key, mark, scope, send):
                        return
                    send = memo.recorder(key, mark, scope, send)
            for route in self.router.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    if isinstance(route, PipelineRoute):
                        scope.update(child, route=route, router=self.router)
                        await self._pipeline(route, scope, receive, send)
                        return
                    break
        await super().__call__(scope, receive, send)

    async def _pipeline(
        self, route: PipelineRoute, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive, send)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            response: Response = await route.endpoint(request)
            await response(scope, receive, sending)
        except Exception as error:
            if started:
                raise
            answer: Response = await self._handler_for(error)(request, error)
            await answer(scope, receive, send)

    def _handler_for(self, error: Exception) -> Any:
        """The exception handler Starlette would pick for ``error``: ``create_app``
        registers one for ``Exception``, so there always is one."""
        for kind in type(error).__mro__:
            handler = self.exception_handlers.get(kind)
            if handler is not None:
                return handler
        raise error
