"""fsspec's own conformance suite (``fsspec.tests.abstract``: copy, get, put, pipe, open,
the cases every backend is held to) run on the ``dataloft://`` filesystem against the live
server, each test in a fresh dataset of its own.

On SQLite only: the filesystem does the same on either database, its own tests
(test_fsspec.py) run on both, and this suite's 137 cases, each writing a tree of files
one commit at a time, take about a minute per database."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

import fsspec
import fsspec.tests.abstract as abstract
import pytest

from dataloft_client import Client
from tests.conftest import User
from tests.support import LiveServer, unique


@pytest.fixture(autouse=True)
def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("fsspec's suite runs on SQLite; test_fsspec.py covers both databases")


class DataloftFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, server: LiveServer, alice: User) -> Any:
        return fsspec.filesystem(
            "dataloft", url=server.url, token=alice.token, skip_instance_cache=True
        )

    @pytest.fixture
    def fs_path(self, sdk: Client) -> str:
        return sdk.create_dataset(unique("abstract")).repo

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False  # folders are made up from the paths of the files in them


class TestCopy(abstract.AbstractCopyTests, DataloftFixtures):  # type: ignore[misc]
    pass


class TestGet(abstract.AbstractGetTests, DataloftFixtures):  # type: ignore[misc]
    pass


class TestPut(abstract.AbstractPutTests, DataloftFixtures):  # type: ignore[misc]
    pass


class TestPipe(abstract.AbstractPipeTests, DataloftFixtures):  # type: ignore[misc]
    pass


class TestOpen(abstract.AbstractOpenTests, DataloftFixtures):  # type: ignore[misc]
    pass
