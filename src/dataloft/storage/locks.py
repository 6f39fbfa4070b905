"""Locks on one digest, for a store that cannot make ``publish`` and a conditional
``delete`` safe against each other by itself.

A file system can (``storage/local.py`` plays rename against link); an object store
cannot: S3 has no "delete if not modified since" for general-purpose buckets. So
``storage/s3.py`` holds a digest's lock *shared* while it publishes the digest (any number
of uploads of the same bytes may publish at once) and *exclusive* while it checks and
deletes it (see that module's docstring for why that is enough).

The locks must reach every process that publishes to or deletes from the store, and
``dataloft gc`` is a process of its own that runs while the server serves. Hence two kinds:

- ``FileDigestLocks``: ``flock`` on files in a directory, shared by the processes of one
  machine. For SQLite deployments, whose server and ``dataloft gc`` run on the machine
  that holds the database file (a lock only between threads would not reach the
  collector's process).
- ``dataloft.db.advisory.AdvisoryDigestLocks``: PostgreSQL advisory locks, shared by every
  process on every machine that uses the database.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol


class DigestLocks(Protocol):
    def hold(self, digest: str, *, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the digest's lock for the block: shared holders exclude only exclusive
        ones; an exclusive holder excludes everyone."""


# Digests share this many locks (by their first two hex digits): two digests on one stripe
# only wait for each other a little, and the number of lock files stays fixed.
STRIPES = 256


def stripe_of(digest: str) -> int:
    try:
        return int(digest[:2], 16) % STRIPES
    except ValueError:
        return 0  # not a digest: the store refuses it anyway, under any lock


class FileDigestLocks:
    """Digest locks as ``flock``s on ``<directory>/<stripe>.lock``. Each hold opens the file
    afresh: ``flock`` belongs to an open file description, so two threads of one process
    exclude each other exactly as two processes do. The kernel drops the lock when its
    holder dies, so a crash leaves nothing to clean up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _held(self, digest: str, exclusive: bool) -> Iterator[None]:
        path = self.directory / f"{stripe_of(digest):02x}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield  # closing the descriptor releases the lock
        finally:
            os.close(fd)

    def hold(self, digest: str, *, exclusive: bool) -> AbstractContextManager[None]:
        return self._held(digest, exclusive)
