"""``Client``: the operations performed with ``httpx.Client``, in the calling thread."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from dataloft_client import _commands as do
from dataloft_client._binding import SyncRunner
from dataloft_client._http import build, keep_server_headers, redirect_of
from dataloft_client._methods import Methods
from dataloft_client._streams import FileStream
from dataloft_client.models import FileInfo

T = TypeVar("T")


class Client(SyncRunner, Methods[httpx.BaseTransport, Callable[[float], object]]):
    """A dataloft client.

    ``base_url`` is the server root (``http://host:8080``) and ``token`` an API token;
    left out, they come from ``DATALOFT_URL``/``DATALOFT_TOKEN`` or the login file (see
    ``dataloft_client.config``; ``token=""``: anonymous). ``timeout`` is httpx's, per
    network operation. ``retries`` bounds the retries of one failed request and ``sleep``
    (default ``time.sleep``) is how the client waits before them. ``transport`` goes to
    ``httpx.Client`` as it is. ``resumable_threshold`` is the size from which uploads are
    resumable; ``config_dir`` overrides where the login and resume files are.

    Use it as a context manager, or ``close()`` it.
    """

    def _start(self, http_options: dict[str, Any], sleep: Callable[[float], object] | None) -> None:
        self._http = httpx.Client(**http_options)
        self._sleep = sleep or time.sleep
        self._chunks: dict[httpx.Response, Iterator[bytes]] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- one method per command ----------------------------------------------------------

    def _send(self, request: do.Request) -> httpx.Response:
        body = request.content
        content = body.chunks() if isinstance(body, do.Body) else body
        response = self._http.send(build(self._http, self._ctx, request, content), stream=True)
        hops = 0
        while (onward := redirect_of(request, response, hops)) is not None:
            response.close()
            followed = self._http.send(onward, stream=True)
            keep_server_headers(response, followed)
            response, hops = followed, hops + 1
        if request.stream and response.status_code < 400:
            # As they arrive, not gathered into larger chunks: what came before a
            # broken connection must reach the operation (a download resumes after it).
            self._chunks[response] = response.iter_bytes()
            return response
        try:
            response.read()
        finally:
            response.close()
        return response

    def _read(self, command: do.Read) -> bytes:
        return next(self._chunks[command.response], b"")

    def _close(self, command: do.Close) -> None:
        self._chunks.pop(command.response, None)
        command.response.close()

    def _pause(self, command: do.Sleep) -> None:
        self._sleep(command.seconds)

    def _block(self, command: do.Blocking) -> Any:
        return command.function()

    # --- driving an operation ------------------------------------------------------------

    def _perform(self, command: do.Command) -> do.Outcome:
        try:
            return do.Outcome(self._handlers[type(command)](command))
        except Exception as error:  # raised in the operation, where it asked
            return do.failed(error)

    def _steps(self, driver: do.Driver[Any]) -> Iterator[Any]:
        try:
            for command in driver:
                if isinstance(command, do.Emit):
                    yield command.item
                else:
                    driver.answer(self._perform(command))
        finally:
            for response in driver.close():
                self._close(do.Close(response))

    def _run(self, op: do.Op[T]) -> T:
        driver = do.Driver(op)
        deque(self._steps(driver), maxlen=0)  # to its end (an operation emits nothing)
        return driver.result  # type: ignore[return-value]

    def _open(
        self, op: do.Op[tuple[FileInfo, httpx.Response]]
    ) -> AbstractContextManager[FileStream]:
        @contextmanager
        def opened() -> Iterator[FileStream]:
            info, response = self._run(op)
            try:
                yield FileStream(info, response)
            finally:
                self._close(do.Close(response))

        return opened()
