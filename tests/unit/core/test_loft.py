"""``Loft`` as a context manager: the block's end closes every connection it opened."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dataloft.config import Settings
from dataloft.core.errors import Unauthenticated
from dataloft.core.loft import Loft
from tests.support import FAST_HASHING, open_files


def test_a_loft_closes_its_connections_when_the_block_ends(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", **FAST_HASHING)
    database = tmp_path / "data" / "dataloft.sqlite3"

    def use(loft: Loft) -> None:
        with pytest.raises(Unauthenticated):  # a lookup, on this thread's own connection
            loft.auth.authenticate_token("dl_not-a-token")
        assert loft.accounts.count_users() == 0  # a pooled session

    with Loft(settings) as loft:
        use(loft)
        done, release = threading.Event(), threading.Event()

        def other_thread() -> None:
            use(loft)
            done.set()
            release.wait(timeout=30)  # still alive when the block ends

        thread = threading.Thread(target=other_thread)
        thread.start()
        assert done.wait(timeout=30)
        assert open_files(database)
    try:
        assert open_files(database) == []
    finally:
        release.set()
        thread.join(timeout=30)


def test_a_loft_that_fails_to_open_leaves_nothing_open(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    settings = Settings(
        data_dir=tmp_path / "data", blob_url=f"file://{tmp_path / 'a-file' / 'blobs'}"
    )
    with pytest.raises(OSError):
        Loft(settings)
    assert (tmp_path / "data" / "dataloft.sqlite3").is_file()  # it got as far as migrating
    assert open_files(tmp_path / "data") == []
