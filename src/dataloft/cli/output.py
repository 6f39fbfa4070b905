"""What every command prints and how it fails: the consoles, one-line errors, ``--json``.

Results go to stdout, everything else (progress, notes, errors) to stderr, so that
``dataloft cat`` and ``--json`` output can be piped. An error is one line,
``error: <message>`` on stderr, and exit status 1; a usage error (a bad argument) is
typer's own message and exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import typer
from rich.console import Console
from rich.text import Text


class FromApi(Protocol):
    """What the SDK's models have: the API's own JSON object."""

    @property
    def raw(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=FromApi)

# soft_wrap: a line longer than the terminal is written whole (the terminal folds it on
# screen), never cut into several lines: messages, URLs and paths stay one line to copy or
# grep. Tables still fit the width.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for scripts")]


def fail(message: str) -> NoReturn:
    """``error: <message>`` as one line on stderr, and exit status 1."""
    err.print(Text.assemble(("error:", "red"), " ", message))  # Text: no markup in messages
    raise typer.Exit(1)


def usage_error(message: str, param: str | None = None) -> NoReturn:
    """A bad argument: typer's usage message and exit status 2."""
    raise typer.BadParameter(message, param_hint=param)


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr (never markup)."""
    err.print(Text(message))


def line(text: str) -> None:
    """One line of a command's result on stdout, exactly as given (no markup, no wrapping,
    no highlighting: results are for pipes as much as for eyes)."""
    sys.stdout.write(text + "\n")


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def print_json_array(items: Iterable[Any]) -> None:
    """A JSON array on stdout, written item by item as they come (a listing of a million
    files is never held whole)."""
    with json_array() as write:
        for item in items:
            write(item)


def show(
    items: Iterable[T],
    as_json: bool,
    text: Callable[[T], str],
    data: Callable[[T], Any] = lambda item: item.raw,
) -> None:
    """A listing as it arrives: a line of ``text(item)`` per item, or with ``--json`` a
    JSON array of ``data(item)`` (by default the API's own object)."""
    if as_json:
        print_json_array(data(item) for item in items)
    else:
        for item in items:
            line(text(item))


@contextmanager
def json_array() -> Iterator[Any]:
    """A JSON array on stdout: the block calls ``write(item)`` for each item."""
    out = sys.stdout
    first = True

    def write(item: Any) -> None:
        nonlocal first
        out.write(("[\n" if first else ",\n") + json.dumps(item, ensure_ascii=False))
        first = False

    yield write
    out.write("[]\n" if first else "\n]\n")
