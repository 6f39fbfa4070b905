"""Sending the bytes of a push: the blobs the server lacks, while the rest of the tree is
still being hashed.

Files reach a ``Sender`` as soon as they are hashed (``offer``). It gathers them into
requests, and a thread of its own asks the server which blobs of each request it lacks
(``POST /blobs/missing``) and sends those, several requests at once, while the hashing
goes on: the reading and hashing of one part of the tree and the server's storing of the
part before it take turns on different cores, instead of one waiting for the other (a
push of 10,000 files of 4 KiB spent 0.35 s hashing before its first byte went out).

Small files go many to a request, as one tar stream (``POST /blobs/batch``, the SDK's
``upload_blobs``): a tree of ten thousand small files is a few requests, not ten thousand
round trips each paying for a request, a write and a database transaction on the server.
A file of ``BATCH_BELOW`` bytes or more goes alone (``PUT /blobs/{sha256}``, resumable at
the SDK's threshold), where the bytes themselves cost more than the request.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Collection, Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from types import MappingProxyType, TracebackType

from dataloft.cli.parallel import in_parallel
from dataloft.cli.progress import Display, Meter
from dataloft.cli.tree import LocalFile
from dataloft_client import Client, DataloftError

# Files below this size go in batches; from it up, one request each.
BATCH_BELOW = 1 << 20
# A batch holds at most this many files and bytes: batches small enough that several go
# at once (the server works on each in a thread of its own), that the first leaves while
# the tree is still being hashed, and that a failed one costs little to send again; large
# enough that the requests cost nothing beside the bytes.
BATCH_FILES = 2000
BATCH_BYTES = 16 << 20
# Batches sent at once, whatever ``jobs`` says: a server stores one while the next streams
# in, and more only contend for its interpreter lock (five batches of 2,000 files of 4 KiB
# took it 0.62-0.68 s one after another, 0.82-0.85 s all at once).
BATCHES_AT_ONCE = 2
# The bytes of small files held between their hashing and their upload, at most.
HOLD_BYTES = 64 << 20
EMPTY: Mapping[str, bytes] = MappingProxyType({})
# For the tests of an interrupted push only: the process ends abruptly (as a kill would
# end it) once this many upload requests have finished.
EXIT_AFTER_UPLOADS = "DATALOFT_TEST_PUSH_EXIT_AFTER_UPLOADS"


def requests(files: Iterable[LocalFile]) -> list[list[LocalFile]]:
    """The files grouped into requests, in the order given: each large file alone, the
    small ones in batches."""
    grouping = _Grouping()
    groups = [group for file in files for group in grouping.add(file)]
    return groups + grouping.rest()


class _Grouping:
    """Files into requests as they come: a large one at once, small ones by the batch."""

    def __init__(self) -> None:
        self._batch: list[LocalFile] = []
        self._size = 0

    def add(self, file: LocalFile) -> list[list[LocalFile]]:
        """The requests complete once ``file`` is added."""
        if file.size >= BATCH_BELOW:
            return [[file]]
        done = []
        if self._batch and (
            len(self._batch) >= BATCH_FILES or self._size + file.size > BATCH_BYTES
        ):
            done.append(self._batch)
            self._batch, self._size = [], 0
        self._batch.append(file)
        self._size += file.size
        return done

    def rest(self) -> list[list[LocalFile]]:
        """The last, partly filled batch, if any."""
        batch, self._batch, self._size = self._batch, [], 0
        return [batch] if batch else []


class Sender:
    """Uploads the blobs of the files it is offered that the server lacks, ``jobs``
    requests at once, in threads of its own; ``finish`` waits for them all. Use it with
    ``with``: leaving early (an error, an interrupt) stops it and waits for the requests
    in flight, so none outlives the client.

    ``on_server``: digests the caller may name already (the dataset's own files), never
    asked about. Each digest is asked about and sent once, however many files hold it.

    Small files may come with their bytes (read once, to be hashed): those are sent from
    memory, not read again, and dropped once sent. At most ``HOLD_BYTES`` are held: past
    that, ``offer`` waits for requests to finish (the hashing then waits for the server)."""

    def __init__(
        self, client: Client, root: Path, shown: Display, jobs: int, on_server: Collection[str]
    ) -> None:
        self._client, self._root, self._shown = client, os.fspath(root), shown
        self._offered: set[str] = set(on_server)
        self._grouping = _Grouping()
        self._groups: queue.SimpleQueue[list[LocalFile] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._held: dict[str, bytes] = {}  # files' bytes by path, until they are sent
        self._held_bytes = 0
        self._batch_slots = threading.Semaphore(BATCHES_AT_ONCE)
        self._phase = ExitStack()
        self._meter: Meter | None = None
        self.files = 0  # uploaded: the files (one per digest) and their bytes
        self.bytes = 0
        self._exit_after = int(os.environ.get(EXIT_AFTER_UPLOADS, "0"))
        self._thread = threading.Thread(target=self._run, args=(jobs,), name="push-send")
        self._thread.start()

    def __enter__(self) -> Sender:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread.is_alive():  # left before ``finish``: stop sending
            self._stopping.set()
            self._groups.put(None)
            self._thread.join()
        self._phase.close()

    def offer(self, files: Iterable[LocalFile], contents: Mapping[str, bytes] = EMPTY) -> None:
        """Hashed files whose blobs the dataset may need: the ones not asked about yet go
        in the next requests, with their bytes from ``contents`` (by path) if they are
        there. Raises the error that stopped the sending, if one has."""
        for file in files:
            if file.target is not None or file.sha256 is None or file.sha256 in self._offered:
                continue
            self._offered.add(file.sha256)
            data = contents.get(file.path)
            if data is not None:
                self._hold(file.path, data)
            for group in self._grouping.add(file):
                self._groups.put(group)
        if self._error is not None:
            raise self._error

    @property
    def held_bytes(self) -> int:
        """The bytes held now, offered and not yet sent."""
        with self._lock:
            return self._held_bytes

    def _hold(self, path: str, data: bytes) -> None:
        with self._lock:
            if self._held_bytes >= HOLD_BYTES:
                # What is held must all be on its way, or nothing would make room.
                for group in self._grouping.rest():
                    self._groups.put(group)
            while self._held_bytes >= HOLD_BYTES and self._error is None:
                self._lock.wait()
            self._held[path] = data
            self._held_bytes += len(data)

    def _release(self, group: list[LocalFile]) -> dict[str, bytes]:
        """The bytes held for the group's files, no longer held."""
        taken: dict[str, bytes] = {}
        with self._lock:
            for file in group:
                data = self._held.pop(file.path, None)
                if data is not None:
                    taken[file.path] = data
                    self._held_bytes -= len(data)
            self._lock.notify_all()
        return taken

    def finish(self) -> None:
        """Send what is left and wait for every request: the error of the first that
        failed is raised here."""
        for group in self._grouping.rest():
            self._groups.put(group)
        self._groups.put(None)
        self._thread.join()
        self._phase.close()  # the phase's closing line: what was uploaded
        if self._error is not None:
            raise self._error

    def _run(self, jobs: int) -> None:
        try:
            requests = iter(self._groups.get, None)
            for finished, _ in enumerate(in_parallel(self._send, requests, jobs, "up"), start=1):
                if finished == self._exit_after:
                    os._exit(75)  # the test hook: as abrupt as a kill
        except BaseException as error:  # the thread's end: offer and finish raise it
            with self._lock:
                self._error = error
                self._lock.notify_all()  # an offer waiting for room waits no more

    def _send(self, group: list[LocalFile]) -> None:
        if self._stopping.is_set():
            return
        try:
            missing = set(self._client.missing_blobs([file.sha256 or "" for file in group]))
            self._release([file for file in group if file.sha256 not in missing])
            group = [file for file in group if file.sha256 in missing]
            if not group:
                return
            held = self._release(group)
            meter = self._metered(group)
            # Paths as strings: pathlib took 30 us to join each.
            if len(group) == 1 and group[0].size >= BATCH_BELOW:
                (file,) = group
                source = f"{self._root}/{file.path}"
                self._client.upload_blob(source, sha256=file.sha256, progress=meter.advance)
            else:
                blobs: dict[str, bytes | str] = {
                    file.sha256 or "": held.get(file.path, f"{self._root}/{file.path}")
                    for file in group
                }
                with self._batch_slots:
                    self._client.upload_blobs(blobs, progress=meter.advance)
        except DataloftError as error:  # which file it was, with the server's reason
            raise DataloftError(_named(error.message, group)) from error
        for _ in group:
            meter.file_done()

    def _metered(self, group: list[LocalFile]) -> Meter:
        """The uploading phase's meter, grown by this request (the phase opens with the
        first request that has anything to send: its totals are learned as it goes)."""
        size = sum(file.size for file in group)
        with self._lock:
            self.files += len(group)
            self.bytes += size
            if self._meter is None:
                phase = self._shown.phase("uploading", "uploaded", 0, 0)
                self._meter = self._phase.enter_context(phase)
            self._meter.grow(size, len(group))
            return self._meter


def _named(message: str, group: list[LocalFile]) -> str:
    """The server's message, said of the file it is about: the one whose sha256 it
    names (a batch's member), else the request's only file."""
    for file in group:
        if file.sha256 and file.sha256 in message:
            return f"{file.path}: {message}"
    if len(group) == 1:
        return f"{group[0].path}: {message}"
    return f"uploading {len(group)} files: {message}"
