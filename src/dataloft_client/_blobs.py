"""Operations on blobs: content-addressed bytes that commits name by sha256. Ask which the
server lacks (for you: knowing a digest is not owning the bytes), and upload them, in one
``PUT`` when small, resumably through tus when large, or many small ones at once as one tar
stream (``POST /blobs/batch``)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

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
            for digest, given in batch:
                opened.append((digest, (yield from open_source(given))))
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


def _tar_body(members: list[tuple[str, Source]], tally: Tally) -> Body:
    """A tar stream of the sources, each a regular file named by its digest, read as it is
    sent; ``tally`` counts the sources' bytes (not the tar's headers and padding)."""
    headers = [_tar_header(digest, source.size) for digest, source in members]
    length = sum(len(h) + _padded(s.size) for h, (_, s) in zip(headers, members, strict=True))
    length += 2 * BLOCK  # the end of the archive

    def chunks() -> Iterator[bytes]:
        sent = 0
        for header, (_, source) in zip(headers, members, strict=True):
            yield header
            for chunk in source.read_from(0):
                yield chunk
                sent += len(chunk)
                tally.reach(sent)
            yield bytes(_padded(source.size) - source.size)
        yield bytes(2 * BLOCK)

    return Body(chunks, length)


def _tar_header(digest: str, size: int) -> bytes:
    member = tarfile.TarInfo(digest)
    member.size, member.mode, member.mtime = size, 0o644, 0
    return member.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")  # PAX: sizes past 8 GiB


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK
