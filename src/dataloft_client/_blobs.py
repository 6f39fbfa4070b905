"""Operations on blobs: content-addressed bytes that commits name by sha256. Ask which the
server lacks (for you: knowing a digest is not owning the bytes), and upload them, in one
``PUT`` when small, resumably through tus when large, or many small ones at once as one tar
stream (``POST /blobs/batch``)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial

from dataloft_client import _tus
from dataloft_client._commands import Blocking, Body, Op, Request
from dataloft_client._exceptions import NotFound
from dataloft_client._http import Context, call, json_request, segment, send
from dataloft_client._sources import Progress, Source, Tally, UploadSource

MAX_PROBE = 10_000  # digests per POST /blobs/missing, the server's limit
MAX_BATCH = 10_000  # members per POST /blobs/batch, the server's limit
BLOCK = tarfile.BLOCKSIZE  # 512: a tar member's header, and what its bytes are padded to


def has_blob(ctx: Context, digest: str) -> Op[bool]:
    """Whether you may name these bytes in a commit (they need no upload)."""
    try:
        yield from send(ctx, Request("HEAD", f"/blobs/{segment(digest)}"))
    except NotFound:
        return False
    return True


def missing_blobs(ctx: Context, digests: Iterable[str]) -> Op[list[str]]:
    """Which of ``digests`` you must upload before a commit may name them, in the order
    asked, each once: one request per 10,000."""
    wanted = list(dict.fromkeys(digests))
    missing: list[str] = []
    for start in range(0, len(wanted), MAX_PROBE):
        body = {"sha256": wanted[start : start + MAX_PROBE]}
        # A probe changes nothing a repeat would change again: safe to retry.
        request = replace(json_request("POST", "/blobs/missing", body), idempotent=True)
        missing.extend((yield from call(ctx, request))["missing"])
    return missing


def open_source(source: UploadSource) -> Op[Source]:
    """The source, measured (a stream that cannot seek is copied aside first)."""
    opened: Source = yield Blocking(lambda: Source(source))
    return opened


def send_blob(ctx: Context, source: Source, digest: str, tally: Tally) -> Op[str]:
    """Upload ``source`` as the blob ``digest``: one ``PUT`` below the client's
    ``resumable_threshold``; at or above it, nothing if you may name the bytes already,
    else a resumable upload."""
    if source.size < ctx.resumable_threshold:
        url = f"/blobs/{segment(digest)}"
        yield from send(ctx, Request("PUT", url, content=source.body(0, tally)))
    elif (yield from has_blob(ctx, digest)):
        tally.reach(source.size)
    else:
        yield from _tus.upload(ctx, source, digest, tally)
    return digest


def upload_blob(
    ctx: Context,
    source: UploadSource,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Op[str]:
    """Upload bytes (``bytes``, a path, a binary file) as a blob; its sha256 (computed
    here unless given; a wrong one is refused by the server)."""
    opened = yield from open_source(source)
    try:
        digest: str = sha256 or (yield Blocking(opened.sha256))
        return (yield from send_blob(ctx, opened, digest, Tally(progress)))
    finally:
        opened.close()


def upload_blobs(
    ctx: Context,
    blobs: Mapping[str, UploadSource],
    progress: Progress | None = None,
) -> Op[list[str]]:
    """Upload many blobs, ``{sha256: source}``, as tar streams of up to 10,000 members
    each named by its sha256 (``POST /blobs/batch``): one request for what would be
    thousands of ``PUT``s. For small blobs; the server refuses a member whose bytes hash to
    something else (a ``BadRequest`` naming it; the members before it are kept). The
    digests stored, in the order given."""
    stored: list[str] = []
    items = list(blobs.items())
    for start in range(0, len(items), MAX_BATCH):
        batch = items[start : start + MAX_BATCH]
        opened: list[tuple[str, Source]] = []
        try:
            # All measured in one blocking step, not one each: a step costs the driver
            # as much as a stat.
            yield Blocking(partial(_open_all, batch, opened))
            # Sending the same bytes again changes nothing: safe to retry.
            request = Request(
                "POST",
                "/blobs/batch",
                headers={"Content-Type": "application/x-tar"},
                content=_tar_body(opened, Tally(progress)),
                idempotent=True,
            )
            answer = yield from call(ctx, request)
        finally:
            for _, each in opened:
                each.close()
        stored.extend(item["sha256"] for item in answer["stored"])
    return stored


def _open_all(sources: Sequence[tuple[str, UploadSource]], into: list[tuple[str, Source]]) -> None:
    into.extend((digest, Source(source)) for digest, source in sources)


def _tar_body(members: list[tuple[str, Source]], tally: Tally) -> Body:
    """A tar stream of the sources, each a regular file named by its digest, read as it is
    sent; ``tally`` counts the sources' bytes (not the tar's headers and padding)."""
    headers = [_tar_header(digest, source.size) for digest, source in members]
    length = sum(len(h) + _padded(s.size) for h, (_, s) in zip(headers, members, strict=True))
    length += 2 * BLOCK  # the end of the archive

    def chunks() -> Iterator[bytes]:
        # Small members are gathered into writes of about GATHER bytes: a header, 4 KiB
        # and its padding sent as three writes each took the client more time than
        # reading the files did.
        gathered = bytearray()
        sent = 0
        for header, (_, source) in zip(headers, members, strict=True):
            gathered += header
            for chunk in source.read_from(0):
                if len(gathered) + len(chunk) > GATHER and gathered:
                    yield bytes(gathered)
                    gathered.clear()
                if len(chunk) >= GATHER:
                    yield chunk
                else:
                    gathered += chunk
                sent += len(chunk)
            gathered += bytes(_padded(source.size) - source.size)
            tally.reach(sent)
        gathered += bytes(2 * BLOCK)
        yield bytes(gathered)

    return Body(chunks, length)


GATHER = 256 * 1024
_USTAR_SIZE_LIMIT = 8**11  # an 11-digit octal size field: 8 GiB


def _tar_header(digest: str, size: int) -> bytes:
    """A member's 512-byte header. A digest is a 64-character ASCII name, so below 8 GiB
    this is a plain ustar header, the same bytes ``tarfile`` writes, built directly (its
    ``TarInfo.tobuf`` took 20 us a member); larger sizes take a PAX record, by ``tarfile``."""
    if size >= _USTAR_SIZE_LIMIT or len(digest) > 100 or not digest.isascii():
        member = tarfile.TarInfo(digest)
        member.size, member.mode, member.mtime = size, 0o644, 0
        return member.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
    header = bytearray(
        digest.encode().ljust(100, b"\0") + _USTAR_MODE_IDS + b"%011o\0" % size + _USTAR_TAIL
    )
    header[148:156] = b"%06o\0 " % sum(header)  # the checksum field counted as 8 spaces
    return bytes(header)


_USTAR_MODE_IDS = b"0000644\0" + b"0000000\0" + b"0000000\0"  # mode, uid, gid
_USTAR_TAIL = (
    b"00000000000\0"  # mtime: 0
    + b" " * 8  # the checksum, filled in after
    + b"0"  # a regular file
    + bytes(100)  # link name
    + b"ustar\x0000"  # magic and version
    + bytes(32 + 32 + 8 + 8)  # user and group names, device numbers (none, as tarfile)
    + bytes(155 + 12)  # name prefix, padding
)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK
