"""How the data client's commands reach a server, and how what goes wrong there is told.

Every command takes ``--url`` and ``--token``; left out, the SDK finds them in
``DATALOFT_URL`` / ``DATALOFT_TOKEN``, or else in the login file ``dataloft login``
wrote (``dataloft_client.config``). The SDK's errors become one line, ``error:
<message>``, and exit status 1; a bad ``OWNER/NAME[@VERSION][/PATH]`` is a usage error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from dataloft.cli.index import cache_dir
from dataloft.cli.output import fail, usage_error
from dataloft_client import (
    Client,
    DataloftError,
    Ref,
    Unauthenticated,
    parse_ref,
)
from dataloft_client.refs import parse_version

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="The server, e.g. http://127.0.0.1:8080 [default: $DATALOFT_URL, else the login]",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="An API token [default: $DATALOFT_TOKEN, else the login]",
        show_default=False,
    ),
]


@contextmanager
def reported() -> Iterator[None]:
    """The SDK's errors, the local file system's and the local index's, as ``error:
    <message>``."""
    try:
        yield
    except Unauthenticated as error:
        fail(f"{error.message} (log in with 'dataloft login', or pass --token)")
    except DataloftError as error:
        fail(error.message)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        fail(f"{where}{error.strerror or error}")
    except sqlite3.Error as error:  # the local index: a cache, which may go
        fail(f"the local index in {cache_dir()} is unusable ({error}): delete it to start afresh")


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[Client]:
    """A client for the command, closed when it ends; errors inside are reported."""
    with reported():
        try:
            client = Client(url, token)
        except ValueError as error:  # no server given anywhere
            fail(str(error))
        with client:
            yield client


def dataset_ref(text: str, *, version: bool = False, path: bool = False) -> Ref:
    """``OWNER/NAME``, with ``@VERSION`` and ``/PATH`` where the command takes them."""
    try:
        ref = parse_ref(text)
    except ValueError as error:
        usage_error(str(error))
    if ref.version is not None and not version:
        usage_error(f"{text!r}: this command takes no @VERSION")
    if ref.path and not path:
        usage_error(f"{text!r}: a dataset is OWNER/NAME, without a path")
    return ref


def version_argument(text: str) -> int | str:
    """A version as typed: a number, or a tag's name."""
    try:
        return parse_version(text)
    except ValueError as error:
        usage_error(str(error))
