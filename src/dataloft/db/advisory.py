"""Digest locks (``dataloft.storage.locks.DigestLocks``) as PostgreSQL advisory locks: one
lock reaches every server process and ``dataloft gc`` on every machine that shares the
database, which is what an S3 blob store's publish and conditional delete need when
several of them share one bucket (``storage/s3.py``).

Each hold takes a connection from the database's pool, in autocommit mode (no
transaction stays open while the store copies an object), takes a session-level
``pg_advisory_lock_shared`` or ``pg_advisory_lock`` and releases it in ``finally`` before
the connection goes back to the pool. A process that dies mid-hold loses its session, and
PostgreSQL releases its locks with it.

Keys: the two-``int4`` form, ``(NAMESPACE, first four bytes of the digest)``. PostgreSQL
keeps the two-key and the one-``bigint`` key spaces apart, so these can never meet the
migration lock (``db/migrate.py``, one ``bigint``). Two digests that share their first 32
bits share a lock: they wait for each other a little, which is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Engine, text

# "dlbl" (dataloft blobs): only has to be the same in every dataloft process.
NAMESPACE = 0x646C626C


def digest_key(digest: str) -> int:
    """The lock key of a digest: its first four bytes as a signed ``int4``."""
    try:
        value = int(digest[:8], 16) if len(digest) >= 8 else 0
    except ValueError:
        value = 0  # not a digest: the store refuses it anyway, under any lock
    return value - (1 << 32) if value >= 1 << 31 else value


class AdvisoryDigestLocks:
    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("advisory locks need PostgreSQL")
        self.engine = engine

    @contextmanager
    def _held(self, digest: str, exclusive: bool) -> Iterator[None]:
        suffix = "" if exclusive else "_shared"
        keys = {"ns": NAMESPACE, "key": digest_key(digest)}
        with self.engine.connect() as plain:
            connection = plain.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(f"SELECT pg_advisory_lock{suffix}(:ns, :key)"), keys)
            try:
                yield
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock{suffix}(:ns, :key)"), keys)

    def hold(self, digest: str, *, exclusive: bool) -> AbstractContextManager[None]:
        return self._held(digest, exclusive)
