"""Many blobs in one request: a tar stream whose members are named by their sha256.

A client pushing a tree of ten thousand small files would otherwise send ten thousand
``PUT /blobs`` requests, each with its authentication, its transaction and its round trip;
here they are one stream, read once front to back (``core.tar_reading``, with its limits),
each member hashed as it goes by and checked against its name, and all of them registered
in ONE transaction at the end. tar because every system can write it (``tar cf - *``
after naming files by their digest) and because our reader already refuses what an
upload must not be trusted with.

A member that is not a regular file, is not named by a digest, or whose bytes hash to
something else stops the batch with a 400 naming it; the blobs before it are stored and
registered as the uploader's (they are what was sent and keeping them costs a retry
nothing), so a client simply sends the batch again, fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dataloft.core.access import Principal
from dataloft.core.blobs import BlobService, StoredBlob
from dataloft.core.errors import DigestMismatch, Invalid
from dataloft.core.names import validate_digest
from dataloft.core.tar_reading import TarLimits, TarReader
from dataloft.core.tar_stream import BinaryReadable

MAX_BATCH = 10_000  # members of one batch, as for a probe of missing blobs


@dataclass(frozen=True)
class BatchItem:
    sha256: str
    size: int
    created: bool  # new to the uploader (as ``PUT /blobs`` answers 201)


def _digest_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    try:
        validate_digest(name)
    except Invalid:
        raise Invalid(
            f"member {path!r} is not named by a sha256 (64 lowercase hex characters)"
        ) from None
    return name


def _receive(blobs: BlobService, reader: TarReader, size: int, expected: str) -> StoredBlob:
    if size <= blobs.inline_limit:  # the common case: one small file, hashed in memory
        stored = blobs.from_bytes(b"".join(reader.read()))
        if stored.digest != expected:
            raise DigestMismatch(f"member {expected!r} has sha256 {stored.digest}")
        return stored
    return blobs.receive(reader.read(), expected=expected)


def store_batch(
    blobs: BlobService, actor: Principal, source: BinaryReadable, limits: TarLimits
) -> list[BatchItem]:
    """Store every member of the tar stream ``source`` as a blob the actor possesses."""
    limits = replace(limits, members=min(limits.members, MAX_BATCH))
    reader = TarReader(source, limits)
    stored: list[StoredBlob] = []
    try:
        for member in reader:
            if member.kind == "directory":
                continue
            if member.kind != "file":
                raise Invalid(
                    f"member {member.path!r} is a {member.kind}: a batch holds regular files "
                    "only, each named by its sha256"
                )
            stored.append(_receive(blobs, reader, member.size, _digest_of(member.path)))
    finally:
        # What was read is kept, even when a later member is refused (see the docstring).
        new = blobs.save_many(actor, stored) if stored else set()
    return [BatchItem(s.digest, s.size, s.digest in new) for s in stored]
