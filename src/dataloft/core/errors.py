"""Domain errors. They know nothing of HTTP: each dialect maps them to its own statuses
and error bodies (see ``dataloft.api.errors`` for the one status table, which gives every
class below a status).

    LoftError
    ├── Invalid
    │   ├── DigestMismatch
    │   │   └── ChecksumMismatch
    │   └── MissingBlobs
    ├── NotFound
    │   └── EntryNotFound
    ├── Conflict
    ├── PreconditionFailed
    ├── Unauthenticated
    ├── Forbidden
    ├── TooLarge
    ├── TooManyRequests
    ├── ServerFault
    │   ├── BlobLost
    │   └── StorageFull
    └── Unavailable
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

# What a full file system (or a user's exhausted quota) says when written to.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class LoftError(Exception):
    """Base of every error the core raises on purpose. ``message`` is safe to show users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(LoftError):
    """The input is malformed or breaks a rule (bad name, bad path, bad JSON, ...)."""


class NotFound(LoftError):
    """No such thing, or the caller may not know it exists."""


class EntryNotFound(NotFound):
    """The dataset is there (and readable) but holds no such file or record at that
    version: dialects that answer differently for a missing entry tell it apart."""


class Conflict(LoftError):
    """The request clashes with the current state (a name already in use, ...)."""


class PreconditionFailed(LoftError):
    """A condition the caller attached (parent version, ETag) no longer holds."""


class Unauthenticated(LoftError):
    """The caller must identify themselves (or their credentials are wrong)."""


class Forbidden(LoftError):
    """The caller is known but may not do this."""


class TooLarge(LoftError):
    """A body, file or record exceeds a configured limit."""


class TooManyRequests(LoftError):
    """The caller must wait ``retry_after`` seconds before trying again (failed logins)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DigestMismatch(Invalid):
    """Uploaded bytes do not hash to the digest the client announced."""


class ChecksumMismatch(DigestMismatch):
    """The bytes of one request of a resumable upload do not match the checksum it
    carried (tus's ``Upload-Checksum``): they are thrown away, and the client sends them
    again."""


class MissingBlobs(Invalid):
    """A change refers to blobs the server does not hold (``digests``, in the order the
    changes name them): upload them, then try again."""

    def __init__(self, message: str, digests: list[str]) -> None:
        super().__init__(message)
        self.digests = digests


class ServerFault(LoftError):
    """Something on the server's side failed, not the request: logged, and reported to the
    caller without internals."""


class BlobLost(ServerFault):
    """The database references a blob whose bytes the blob store no longer has (someone
    removed files by hand, or restored a database without its blobs)."""


class StorageFull(ServerFault):
    """The blob store or the database has no room left: nothing was saved."""


class Unavailable(LoftError):
    """The server is not set up for this (an optional tool it needs is not configured)."""


@contextmanager
def space_checked(what: str) -> Iterator[None]:
    """Report a file system with no room left (ENOSPC, or EDQUOT for an exhausted quota) as
    ``StorageFull`` (507) saying that the server's ``what`` is full, not as a server crash.
    Whoever writes files for a request writes them inside this block and removes what it
    wrote when the block fails. (A full database is told by its driver's error codes:
    ``dataloft.db.engine``.)"""
    try:
        yield
    except OSError as error:
        if error.errno in NO_SPACE:
            raise StorageFull(f"the server's {what} is full: nothing was saved") from error
        raise
