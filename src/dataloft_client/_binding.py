"""How a function of the sans-I/O core becomes a method of both clients.

An operation (a generator function taking the client's ``Context`` first) becomes a
method through a descriptor, which hands the generator to the executor of the instance it
is read from: on a ``Client`` the method returns the result, on an ``AsyncClient`` a
coroutine of it; a listing is an iterator or an async iterator; an opener a context
manager or an async one. The descriptors keep each operation's signature (a
``ParamSpec``), so type checkers and editors see ``client.get_dataset(repo: str) ->
Dataset`` and ``await aclient.get_dataset(repo: str)`` alike.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from dataloft_client._commands import Driver, Listing, Op
from dataloft_client._http import Context
from dataloft_client._streams import AsyncFileStream, FileStream
from dataloft_client.models import FileInfo

P = ParamSpec("P")
T = TypeVar("T")


class SyncRunner:
    """What an executor of operations in the calling thread provides."""

    _ctx: Context

    def _run(self, op: Op[T]) -> T:
        raise NotImplementedError

    def _steps(self, driver: Driver[Any]) -> Iterator[Any]:
        """Drive an operation; the items it emits."""
        raise NotImplementedError

    def _open(self, op: Op[tuple[FileInfo, httpx.Response]]) -> AbstractContextManager[FileStream]:
        raise NotImplementedError


class AsyncRunner:
    """What an executor of operations on an event loop provides."""

    _ctx: Context

    async def _run(self, op: Op[T]) -> T:
        raise NotImplementedError

    def _steps(self, driver: Driver[Any]) -> AsyncIterator[Any]:
        """Drive an operation; the items it emits."""
        raise NotImplementedError

    def _open(
        self, op: Op[tuple[FileInfo, httpx.Response]]
    ) -> AbstractAsyncContextManager[AsyncFileStream]:
        raise NotImplementedError


class _Method(Generic[P, T]):
    """A method made of a function of the core: ``bind`` gives the callable an instance
    offers, named and documented like the function, without its ``ctx`` parameter."""

    def __init__(self, function: Callable[Concatenate[Context, P], Any]) -> None:
        self.function = function
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__
        signature = inspect.signature(function)
        # Without ctx, and without the generator's return type (the method's is its value).
        self.__signature__ = signature.replace(
            parameters=list(signature.parameters.values())[1:],
            return_annotation=inspect.Signature.empty,
        )

    def bind(self, instance: Any, run: Callable[[Any], Any]) -> Callable[..., Any]:
        function = self.function

        @functools.wraps(function)
        def method(*args: Any, **kwargs: Any) -> Any:
            return run(function(instance._ctx, *args, **kwargs))

        method.__signature__ = self.__signature__  # type: ignore[attr-defined]
        return method


class operation(_Method[P, T]):  # noqa: N801 (a decorator-like descriptor, as property is)
    """A method returning ``T``: ``T`` on a ``Client``, a coroutine of ``T`` on an
    ``AsyncClient``."""

    def __init__(self, function: Callable[Concatenate[Context, P], Op[T]]) -> None:
        super().__init__(function)

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, instance: SyncRunner, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, instance: AsyncRunner, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        return self.bind(instance, instance._run)  # type: ignore[attr-defined]


class listing(_Method[P, T]):  # noqa: N801
    """A method giving ``T``s: an iterator on a ``Client``, an async one on an
    ``AsyncClient``. Pages are fetched as the iteration reaches them."""

    def __init__(self, function: Callable[Concatenate[Context, P], Listing[T]]) -> None:
        super().__init__(function)

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, instance: SyncRunner, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, instance: AsyncRunner, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        steps = instance._steps  # type: ignore[attr-defined]
        return self.bind(instance, lambda listing: steps(Driver(listing)))


class opener(_Method[P, Any]):  # noqa: N801
    """A method opening a file for reading: a context manager on a ``Client``, an async
    one on an ``AsyncClient``; the response is closed when it exits."""

    def __init__(
        self, function: Callable[Concatenate[Context, P], Op[tuple[FileInfo, httpx.Response]]]
    ) -> None:
        super().__init__(function)

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(
        self, instance: SyncRunner, owner: type[Any]
    ) -> Callable[P, AbstractContextManager[FileStream]]: ...
    @overload
    def __get__(
        self, instance: AsyncRunner, owner: type[Any]
    ) -> Callable[P, AbstractAsyncContextManager[AsyncFileStream]]: ...
    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        return self.bind(instance, instance._open)  # type: ignore[attr-defined]
