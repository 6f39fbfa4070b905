"""Operations on blobs: content-addressed bytes that commits name by sha256. Ask which the
server lacks (for you: knowing a digest is not owning the bytes), and upload them, in one
``PUT`` when small, resumably through tus when large."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dataloft_client import _tus
from dataloft_client._commands import Blocking, Op, Request
from dataloft_client._exceptions import NotFound
from dataloft_client._http import Context, call, json_request, segment, send
from dataloft_client._sources import Progress, Source, Tally, UploadSource

MAX_PROBE = 10_000  # digests per POST /blobs/missing, the server's limit


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
