"""The sans-I/O core's vocabulary: what an operation asks its executor to do, and the
``Driver`` that runs an operation.

Every method of the client is written once, as a generator (an *operation*) that yields
commands and receives their results: send this request, read the next chunk of that
response, sleep so long, run this blocking function. ``Client`` performs the commands with
``httpx.Client`` in the calling thread, ``AsyncClient`` with ``httpx.AsyncClient`` on the
event loop, so the protocol (URLs, headers, bodies, retries, resumption, parsing) exists in
one copy and each executor is a dozen lines of I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from dataloft_client._exceptions import from_httpx

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Body:
    """A request body read from a source as it is sent: ``chunks()`` starts again from
    ``offset`` on every call, so that a retried request sends the same bytes."""

    chunks: Callable[[], Iterator[bytes]]
    length: int


@dataclass(frozen=True)
class Request:
    """One HTTP exchange. ``url`` is relative to the API root (``/loft/v1``) or absolute.
    With ``stream`` the answer's body is left unread (for ``Read``) when it is a success;
    an error's body is always read, for its message. ``idempotent`` overrides what the
    method says, for retries; ``retry=False`` sends it once, whatever happens."""

    method: str
    url: str
    params: dict[str, str | int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | Body | None = None
    stream: bool = False
    idempotent: bool | None = None
    retry: bool = True

    @property
    def safe_to_repeat(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Read:
    """The next chunk of a streamed response's body; ``b""`` at its end."""

    response: httpx.Response


@dataclass(frozen=True)
class Close:
    """Done with a streamed response."""

    response: httpx.Response


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Blocking:
    """Run ``function`` (file hashing, large reads) where it does not hold up an event
    loop: in a worker thread under ``AsyncClient``, in place under ``Client``."""

    function: Callable[[], Any]


@dataclass(frozen=True)
class Emit(Generic[Item]):
    """An item for the caller of an iterating method (``list_files``, ``events``)."""

    item: Item


Command = Request | Read | Close | Sleep | Blocking
# An operation returns T; a listing emits items and returns nothing.
Op = Generator[Command, Any, T]
Listing = Generator[Command | Emit[Item], Any, None]


@dataclass
class Outcome:
    """What performing a command gave: a value, or the exception to raise in the
    operation at the point it yielded the command."""

    value: Any = None
    error: BaseException | None = None


class Driver(Generic[T]):
    """Runs one operation. Iterating gives its commands (and ``Emit``s) one by one; the
    executor ``answer``s each command with its outcome before asking for the next (an
    ``Emit`` needs no answer). ``result`` is what the operation returned.

    It remembers the streamed responses the operation opened: one that ends abnormally
    (an error, an iterator abandoned half-way) leaves them for the executor to close
    (``close``). One that returns has closed its own, or handed them out in its result
    (``open_file``)."""

    def __init__(self, op: Generator[Any, Any, T]) -> None:
        self._op = op
        self._last: Any = None
        self._outcome = Outcome()
        self.finished = False
        self.result: T | None = None
        self.streams: list[httpx.Response] = []

    def __iter__(self) -> Driver[T]:
        return self

    def __next__(self) -> Any:
        outcome, self._outcome = self._outcome, Outcome()
        last, self._last = self._last, None
        if isinstance(last, Request) and last.stream and isinstance(outcome.value, httpx.Response):
            if not outcome.value.is_closed:
                self.streams.append(outcome.value)
        elif isinstance(last, Close):
            self.streams = [r for r in self.streams if r is not last.response]
        try:
            if outcome.error is not None:
                command = self._op.throw(outcome.error)
            else:
                command = self._op.send(outcome.value)
        except StopIteration as stop:
            self.result, self.finished = stop.value, True
            raise StopIteration from None
        self._last = command
        return command

    def answer(self, outcome: Outcome) -> None:
        self._outcome = outcome

    def close(self) -> list[httpx.Response]:
        """End the operation if it has not ended (its ``finally`` blocks run); the
        responses the executor must close."""
        self._op.close()
        left, self.streams = self.streams, []
        return [] if self.finished else [r for r in left if not r.is_closed]


def failed(error: Exception) -> Outcome:
    """The outcome of a command that raised: httpx's network errors become ours."""
    if isinstance(error, httpx.TransportError):
        ours = from_httpx(error)
        ours.__cause__ = error
        return Outcome(error=ours)
    return Outcome(error=error)
