"""The open files and the transactions of the ``dataloft://`` filesystem (``fsspec.py``):
a file reads ranges of one pinned version, or spools what is written and commits it on
close; a transaction gathers writes and deletes into one commit per dataset."""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO, TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile
from fsspec.transaction import Transaction

from dataloft_client._fspaths import FileChange, head_info, os_errors
from dataloft_client.models import FileInfo

if TYPE_CHECKING:
    from dataloft_client.fsspec import DataloftFileSystem


class DataloftTransaction(Transaction):  # type: ignore[misc]
    """Gathers the writes and deletes made while it is open, and makes them one commit
    per dataset when it ends without an error (the files written meanwhile are uploaded
    as blobs as they close; a later change of the same path replaces an earlier one).
    Set ``message`` for the commits' message. On an error nothing is committed (uploaded
    blobs no version names are left to garbage collection). Commits to two datasets are
    two commits: not atomic together."""

    def __init__(self, fs: DataloftFileSystem, **kwargs: Any) -> None:
        super().__init__(fs, **kwargs)
        self.message: str | None = None
        self.changes: dict[str, dict[str, FileChange]] = {}

    def start(self) -> None:
        super().start()
        self.changes = {}

    def stage(self, repo: str, change: FileChange) -> None:
        self.changes.setdefault(repo, {})[change.path] = change

    def complete(self, commit: bool = True) -> None:
        fs: DataloftFileSystem = self.fs
        try:
            super().complete(commit)  # closes the files still open: they stage here
            if commit:
                for repo, changes in self.changes.items():
                    fs.commit(repo, list(changes.values()), self.message)
        finally:
            self.changes = {}


class DataloftFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of the store, open for reading (ranges of one pinned version, fetched as
    fsspec's cache asks for them) or writing (spooled to a temporary file past the block
    size, written as one commit when it closes, or uploaded then and committed with the
    transaction)."""

    # Reads fetch at least this much at a time (fsspec's readahead): small enough that a
    # parquet reader fetching one column does not fetch its neighbours too.
    DEFAULT_BLOCK_SIZE = 2 << 20

    def __init__(
        self,
        fs: DataloftFileSystem,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = "default",
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        *,
        found: FileInfo | None = None,
        message: str | None = None,
        media_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.found = found
        self.repo = fs._file(path).repo
        self.write_options: dict[str, Any] = {
            "message": message,
            "media_type": media_type,
            "metadata": metadata,
        }
        self.spool: IO[bytes] | None = None
        self.digest = hashlib.sha256()
        if found is not None:
            # Kept with the file's options, so a file unpickled elsewhere reads the same
            # version (fsspec reopens it with them).
            kwargs["version"] = found.version
        super().__init__(
            fs,
            path,
            mode,
            block_size,
            autocommit,
            cache_type,
            cache_options,
            size=found.size if found is not None else None,
            **kwargs,
        )
        if found is not None:
            self.details = head_info(path, found)

    def _fetch_range(self, start: int, end: int) -> bytes:
        assert self.found is not None
        if end <= start:
            return b""
        with os_errors(self.path):
            return self.fs.client.read_file(  # type: ignore[no-any-return]
                self.repo, self.found.path, self.found.version, start, end
            )

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if final and self.spool is None:
            self._finish(data, hashlib.sha256(data).hexdigest())
            return True
        if self.spool is None:
            self.spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _finish)
        self.spool.write(data)
        self.digest.update(data)
        if final:
            self.spool.seek(0)
            try:
                self._finish(self.spool, self.digest.hexdigest())
            finally:
                self.spool.close()
        return True

    def _finish(self, source: bytes | IO[bytes], digest: str) -> None:
        fs: DataloftFileSystem = self.fs
        fs.store(
            self.path,
            source,
            create=self.mode == "xb",
            sha256=digest,
            **self.write_options,
        )

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None and self.writable():
            # The block failed part-way: what it wrote is no file anybody meant to save.
            self.discard()
        else:
            self.close()

    def commit(self) -> None:
        """At the end of a transaction: the bytes are uploaded and staged on close."""
        if not self.closed:
            self.close()

    def discard(self) -> None:
        """Drop what was written (a transaction, or the ``with`` block, failed)."""
        if self.spool is not None:
            self.spool.close()
        self.closed = True
