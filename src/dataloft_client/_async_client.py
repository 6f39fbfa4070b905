"""``AsyncClient``: the operations performed with ``httpx.AsyncClient`` on an event loop
(asyncio or trio: waits and worker threads go through anyio, which httpx brings)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from dataloft_client import _commands as do
from dataloft_client._binding import AsyncRunner
from dataloft_client._http import build, keep_server_headers, redirect_of
from dataloft_client._methods import Methods
from dataloft_client._streams import AsyncFileStream
from dataloft_client.models import FileInfo

T = TypeVar("T")
AsyncSleep = Callable[[float], Awaitable[object]]


async def _in_thread(function: Callable[[], T]) -> T:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(function)


async def _read_in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A body's chunks, each read in a worker thread (they come from files)."""
    while (chunk := await _in_thread(lambda: next(chunks, None))) is not None:
        yield chunk


class AsyncClient(AsyncRunner, Methods[httpx.AsyncBaseTransport, AsyncSleep]):
    """The asynchronous dataloft client: the constructor and methods of ``Client``, the
    methods awaited and the listings iterated with ``async for``. ``sleep`` is an async
    function (default ``anyio.sleep``); ``transport`` an ``httpx.AsyncBaseTransport``
    (``httpx.ASGITransport`` runs an ASGI app in-process). ``await close()`` it, or use
    ``async with``."""

    def _start(self, http_options: dict[str, Any], sleep: AsyncSleep | None) -> None:
        self._http = httpx.AsyncClient(**http_options)
        self._sleep = sleep
        self._chunks: dict[httpx.Response, AsyncIterator[bytes]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- one method per command ----------------------------------------------------------

    async def _send(self, request: do.Request) -> httpx.Response:
        body = request.content
        content = _read_in_threads(body.chunks()) if isinstance(body, do.Body) else body
        http_request = build(self._http, self._ctx, request, content)
        response = await self._http.send(http_request, stream=True)
        hops = 0
        while (onward := redirect_of(request, response, hops)) is not None:
            await response.aclose()
            followed = await self._http.send(onward, stream=True)
            keep_server_headers(response, followed)
            response, hops = followed, hops + 1
        if request.stream and response.status_code < 400:
            # As they arrive, not gathered into larger chunks: what came before a
            # broken connection must reach the operation (a download resumes after it).
            self._chunks[response] = response.aiter_bytes()
            return response
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _read(self, command: do.Read) -> bytes:
        return await anext(self._chunks[command.response], b"")

    async def _close(self, command: do.Close) -> None:
        self._chunks.pop(command.response, None)
        await command.response.aclose()

    async def _pause(self, command: do.Sleep) -> None:
        if self._sleep is not None:
            await self._sleep(command.seconds)
            return
        import anyio

        await anyio.sleep(command.seconds)

    async def _block(self, command: do.Blocking) -> Any:
        return await _in_thread(command.function)

    # --- driving an operation ------------------------------------------------------------

    async def _perform(self, command: do.Command) -> do.Outcome:
        try:
            return do.Outcome(await self._handlers[type(command)](command))
        except Exception as error:  # raised in the operation, where it asked
            return do.failed(error)

    async def _steps(self, driver: do.Driver[Any]) -> AsyncIterator[Any]:
        try:
            for command in driver:
                if isinstance(command, do.Emit):
                    yield command.item
                else:
                    driver.answer(await self._perform(command))
        finally:
            for response in driver.close():
                await self._close(do.Close(response))

    async def _run(self, op: do.Op[T]) -> T:
        driver = do.Driver(op)
        async for _ in self._steps(driver):
            pass
        return driver.result  # type: ignore[return-value]

    def _open(
        self, op: do.Op[tuple[FileInfo, httpx.Response]]
    ) -> AbstractAsyncContextManager[AsyncFileStream]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[AsyncFileStream]:
            info, response = await self._run(op)
            try:
                yield AsyncFileStream(info, response)
            finally:
                await self._close(do.Close(response))

        return opened()
