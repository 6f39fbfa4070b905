"""SQLite lookups keep the rows of ``remembered`` statements (db/engine.py, ``RowMemory``)
and never answer from them after a commit, wherever it was made: here two ``Loft``s on one
file stand for the server and another process (the ``dataloft`` command)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.auth import _TOKEN_LOOKUP
from dataloft.core.changes import RECORDS, DeleteRecord, PutRecord
from dataloft.core.errors import EntryNotFound
from dataloft.core.loft import Loft
from dataloft.db.engine import RowMemory
from tests.support import FAST_HASHING


@contextmanager
def two_processes(tmp_path: Path) -> Iterator[tuple[Loft, Loft, Callable[[], object]]]:
    """A server and a command on one database, record ``r`` = {"n": 1} in ``admin/kept``,
    and the server's read of it."""
    settings = Settings(data_dir=tmp_path, admin_password="admin-password", **FAST_HASHING)
    with Loft(settings) as server, Loft(settings) as command:
        server.bootstrap_admin()
        server.datasets.create(SYSTEM, "admin", "kept")
        command.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 1})])

        def value() -> object:
            found = server.browse.get_entry(SYSTEM, "admin", "kept", RECORDS, "r")
            assert found.blob is not None
            return server.browse.record_value(found.blob)

        yield server, command, value


def test_a_remembered_read_sees_every_commit(tmp_path: Path) -> None:
    with two_processes(tmp_path) as (server, command, value):
        assert value() == {"n": 1}
        assert value() == {"n": 1}  # from memory
        memory = server.db._thread_lookup().memory
        assert memory is not None and memory._rows

        command.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 2})])
        assert value() == {"n": 2}
        server.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 3})])
        assert value() == {"n": 3}
        command.commits.commit(SYSTEM, "admin", "kept", [DeleteRecord("r")])
        with pytest.raises(EntryNotFound):
            value()


def test_each_caller_gets_values_of_its_own(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_password="admin-password", **FAST_HASHING)
    with Loft(settings) as loft:
        loft.bootstrap_admin()
        loft.datasets.create(SYSTEM, "admin", "kept")
        loft.commits.commit(
            SYSTEM, "admin", "kept", [PutRecord("r", {"n": 1}, metadata={"tag": "a"})]
        )
        first = loft.browse.get_entry(SYSTEM, "admin", "kept", RECORDS, "r")
        assert first.entry.metadata == {"tag": "a"}
        first.entry.metadata["tag"] = "changed by a caller"
        again = loft.browse.get_entry(SYSTEM, "admin", "kept", RECORDS, "r")
        assert again.entry.metadata == {"tag": "a"}


def test_the_memory_is_bounded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, **FAST_HASHING)
    with Loft(settings) as loft:
        lookup = loft.db._thread_lookup()
        assert lookup.memory is not None
        for n in range(RowMemory.MAX_ENTRIES + 10):
            assert lookup.first(_TOKEN_LOOKUP, digest=f"{n:064x}") is None
        assert len(lookup.memory._rows) <= RowMemory.MAX_ENTRIES


def test_one_block_reads_data_version_once_and_sees_its_own_commits(tmp_path: Path) -> None:
    with two_processes(tmp_path) as (server, command, value):
        with server.reading():
            assert value() == {"n": 1}
            # Another process commits while the block runs: the block keeps the state it
            # began with, as one snapshot would.
            command.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 2})])
            assert value() == {"n": 1}
            # This process commits: its own write is seen at once.
            server.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 3})])
            assert value() == {"n": 3}
        with server.reading():
            command.commits.commit(SYSTEM, "admin", "kept", [PutRecord("r", {"n": 4})])
        assert value() == {"n": 4}  # a new block reads data_version again
