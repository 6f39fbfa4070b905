"""Moving a file's bytes: uploading a file (one ``PUT``, or a resumable blob upload and a
commit), downloading one to disk (resumable, verified) or as a stream, and downloading a
whole version as an archive.

A download goes to ``<dest>.part`` and becomes ``<dest>`` by a rename only once its bytes
hash to the sha256 the server gave (its ``ETag``), so ``<dest>`` is never a partial or
corrupt file. A ``.part`` left by an earlier attempt is continued: a ``HEAD`` learns the
file's digest and version, a ``Range`` request with ``If-Range: "<digest>"`` (of that
version) fetches the rest. If the whole then does not hash right, the ``.part`` held
other bytes: it is discarded and the file downloaded again from the start, once; a fresh
download that does not hash right raises ``ChecksumMismatch``. A connection that breaks
mid-download continues the same way, from what has arrived.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import httpx

from dataloft_client._blobs import open_source, send_blob
from dataloft_client._commands import Blocking, Close, Op, Read, Request, Sleep
from dataloft_client._contents import (
    check_digest,
    commit,
    file_info,
    file_url,
    get_file_info,
    metadata_header,
)
from dataloft_client._exceptions import DataloftError, RangeNotSatisfiable, TransportError
from dataloft_client._http import (
    Context,
    call,
    dataset_url,
    guard_headers,
    send,
    version_params,
    write_params,
)
from dataloft_client._sources import Progress, Tally, UploadSource
from dataloft_client.changes import PutFile
from dataloft_client.models import FileInfo, WriteResult

ArchiveFormat = Literal["zip", "tar", "tar.gz"]


# sha256 of a download cost as much of the client's CPU as receiving and writing it (546
# against 890 MB/s for 1 GiB here), and hashlib lets go of the GIL: the bytes are hashed on
# another thread, a batch at a time, while the next ones arrive (about 10% more here, on two
# cores shared with the server).
_HASHER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dataloft-hash")
HASH_BATCH = 1 << 20


def _update(digest: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)


class Part:
    """``<dest>.part``: the bytes so far, and the running sha256 of them."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(dest.name + ".part")
        self.size = self.path.stat().st_size if self.path.exists() else 0
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = None
        self._pieces: list[bytes] = []
        self._batched = 0
        self._hashing: Future[None] | None = None

    def hash_existing(self) -> None:
        """Take in the bytes already there (blocking: a large read)."""
        self._settle()
        with self.path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                self._hash.update(chunk)

    def restart(self) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self.size, self._hash = 0, hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(chunk)
        self._pieces.append(chunk)
        self._batched += len(chunk)
        self.size += len(chunk)
        if self._batched >= HASH_BATCH:
            self._hand_off()

    def _hand_off(self) -> None:
        """Hash the batch so far on the hashing thread, once the batch before is done
        (batches stay in order, and at most two are held)."""
        if self._hashing is not None:
            self._hashing.result()
        pieces, self._pieces, self._batched = self._pieces, [], 0
        self._hashing = _HASHER.submit(_update, self._hash, pieces) if pieces else None

    def _settle(self) -> None:
        self._hand_off()
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def hexdigest(self) -> str:
        self._settle()
        return self._hash.hexdigest()

    def close(self) -> None:
        self._settle()
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self, dest: Path) -> None:
        self.close()
        if not self.path.exists():  # an empty file: no chunk ever came
            self.path.write_bytes(b"")
        self.path.replace(dest)

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _receive(response: httpx.Response, part: Part, tally: Tally) -> Op[None]:
    """Write a streamed response's body into ``part``; the response is closed after,
    whether all of it came or the connection broke."""
    try:
        while chunk := (yield Read(response)):
            part.write(chunk)
            tally.reach(part.size)
    except TransportError:
        part.close()
        yield Close(response)
        raise
    part.close()
    yield Close(response)


def _refuse_symlink(path: str, target: str | None) -> None:
    if target is not None:
        raise DataloftError(f"{path!r} is a symlink to {target!r}: there are no bytes to get")


def _range_start(response: httpx.Response) -> int | None:
    """Where the part a 206 holds starts (``Content-Range: bytes a-b/n``)."""
    unit, _, rest = response.headers.get("content-range", "").partition(" ")
    first = rest.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def download_file(
    ctx: Context,
    repo: str,
    path: str,
    dest: str | os.PathLike[str],
    version: int | str | None = None,
    progress: Progress | None = None,
) -> Op[FileInfo]:
    """Download a file to ``dest``, resuming a ``dest.part`` left before and checking the
    sha256 (see the module's notes); what the server said of the file."""
    target, url, tally = Path(dest), file_url(repo, path), Tally(progress)
    part = Part(target)
    info: FileInfo | None = None
    if part.size:
        info = yield from get_file_info(ctx, repo, path, version)
        _refuse_symlink(path, info.target)
        version = info.version if info.version is not None else version  # If-Range's
        if part.size > info.size:
            part.restart()
        else:
            yield Blocking(part.hash_existing)
    resumed, failures = part.size > 0, 0
    while True:
        headers = {}
        if part.size and info is not None and info.sha256:
            headers = {"Range": f"bytes={part.size}-", "If-Range": f'"{info.sha256}"'}
        request = Request("GET", url, version_params(version), headers, stream=True)
        before = part.size
        try:
            response = yield from send(ctx, request)
        except RangeNotSatisfiable:  # the .part is whole already: only the check is left
            pass
        else:
            _refuse_symlink(path, response.headers.get("x-loft-symlink"))
            if response.status_code == 200:
                part.restart()
            elif _range_start(response) != part.size:
                yield Close(response)
                raise DataloftError(f"{url}: the server sent a range that was not asked for")
            info = file_info(path, response)
            version = info.version if info.version is not None else version
            try:
                yield from _receive(response, part, tally)
            except TransportError:
                failures = 0 if part.size > before else failures + 1
                if failures > ctx.policy.retries:
                    raise
                yield Sleep(ctx.policy.backoff(failures))
                continue
        assert info is not None
        if info.sha256 is None or part.hexdigest() == info.sha256:
            break  # (no ETag, as from a proxy that drops it: nothing to check against)
        if resumed:  # the old .part held other bytes: once more, from the start
            resumed = False
            part.restart()
            continue
        part.discard()
        check_digest(url, info.sha256, part.hexdigest())
    part.finish(target)
    return replace(info, size=part.size)


def download_archive(
    ctx: Context,
    repo: str,
    dest: str | os.PathLike[str],
    *,
    format: ArchiveFormat = "zip",
    version: int | str | None = None,
    progress: Progress | None = None,
) -> Op[Path]:
    """A whole version (default: the head) as one zip, tar or tar.gz file at ``dest``
    (through ``dest.part``). Archives are made as they are sent, so a broken download
    starts again from the beginning."""
    target, tally = Path(dest), Tally(progress)
    url = f"{dataset_url(repo)}/archive.{format}"
    part = Part(target)
    failures = 0
    while True:
        part.restart()
        response = yield from send(ctx, Request("GET", url, version_params(version), stream=True))
        try:
            yield from _receive(response, part, tally)
            break
        except TransportError:
            failures += 1
            if failures > ctx.policy.retries:
                part.discard()
                raise
            yield Sleep(ctx.policy.backoff(failures - 1))
    part.finish(target)
    return target


def open_file(
    ctx: Context, repo: str, path: str, version: int | str | None = None
) -> Op[tuple[FileInfo, httpx.Response]]:
    """A file's response, its body not read yet (the executors wrap it for reading)."""
    request = Request("GET", file_url(repo, path), version_params(version), stream=True)
    response = yield from send(ctx, request)
    if response.headers.get("x-loft-symlink") is not None:
        yield Close(response)
        _refuse_symlink(path, response.headers["x-loft-symlink"])
    return file_info(path, response), response


def upload_file(
    ctx: Context,
    repo: str,
    path: str,
    source: UploadSource,
    *,
    media_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    message: str | None = None,
    parent: int | None = None,
    if_match: str | None = None,
    if_none_match: bool = False,
    progress: Progress | None = None,
) -> Op[WriteResult]:
    """Upload ``source`` (``bytes``, a path, a binary file) to ``path`` as one commit.
    Below the client's ``resumable_threshold``: one ``PUT``. At or above it: the bytes go
    as a resumable blob upload, then a commit names them (the answer is the same)."""
    opened = yield from open_source(source)
    try:
        tally = Tally(progress)
        if opened.size < ctx.resumable_threshold:
            headers = {**metadata_header(metadata), **guard_headers(if_match, if_none_match)}
            if media_type is not None:
                headers["Content-Type"] = media_type
            request = Request(
                "PUT",
                file_url(repo, path),
                write_params(parent, message),
                headers,
                content=opened.body(0, tally),
            )
            return WriteResult.from_json((yield from call(ctx, request)))
        digest: str = yield Blocking(opened.sha256)
        yield from send_blob(ctx, opened, digest, tally)
    finally:
        opened.close()
    change = PutFile(
        path,
        digest,
        media_type=media_type,
        metadata=metadata,
        if_match=if_match,
        if_none_match=if_none_match,
    )
    made = yield from commit(ctx, repo, [change], message=message, parent=parent)
    number = made.version.number
    entry = yield from _entry(ctx, repo, path, number)
    return WriteResult.from_json({"version": number, "outcome": made.outcomes[0], "entry": entry})


def _entry(ctx: Context, repo: str, path: str, version: int) -> Op[dict[str, Any]]:
    """The entry at ``path`` in ``version``, as the listing shows it (the path sorts first
    among those it prefixes)."""
    params: dict[str, str | int] = {"version": version, "prefix": path, "limit": 1}
    request = Request("GET", f"{dataset_url(repo)}/files", params)
    page = yield from call(ctx, request)
    for item in page["items"]:
        if item["path"] == path:
            return dict(item)
    raise DataloftError(f"{path!r} is not in version {version} after committing it")
