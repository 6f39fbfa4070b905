"""Sending the bytes of a push: the blobs the server lacks, several requests at once.

Small files go many to a request, as one tar stream (``POST /blobs/batch``, the SDK's
``upload_blobs``): a tree of ten thousand small files is a few requests, not ten thousand
round trips each paying for a request, a write and a database transaction on the server.
A file of ``BATCH_BELOW`` bytes or more goes alone (``PUT /blobs/{sha256}``, resumable at
the SDK's threshold), where the bytes themselves cost more than the request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dataloft.cli.parallel import in_parallel
from dataloft.cli.progress import Display
from dataloft.cli.tree import LocalFile
from dataloft_client import Client, DataloftError

# Files below this size go in batches; from it up, one request each.
BATCH_BELOW = 1 << 20
# A batch holds at most this many files and bytes: batches small enough that several go
# at once (the server works on each in a thread of its own) and that a failed one costs
# little to send again, large enough that the requests cost nothing beside the bytes.
BATCH_FILES = 2000
BATCH_BYTES = 16 << 20
# For the tests of an interrupted push only: the process ends abruptly (as a kill would
# end it) once this many upload requests have finished.
EXIT_AFTER_UPLOADS = "DATALOFT_TEST_PUSH_EXIT_AFTER_UPLOADS"


def requests(files: Iterable[LocalFile]) -> list[list[LocalFile]]:
    """The files grouped into requests, in the order given: each large file alone, the
    small ones in batches."""
    groups: list[list[LocalFile]] = []
    batch: list[LocalFile] = []
    size = 0
    for file in files:
        if file.size >= BATCH_BELOW:
            groups.append([file])
            continue
        if batch and (len(batch) >= BATCH_FILES or size + file.size > BATCH_BYTES):
            groups.append(batch)
            batch, size = [], 0
        batch.append(file)
        size += file.size
    if batch:
        groups.append(batch)
    return groups


def upload(client: Client, root: Path, files: list[LocalFile], shown: Display, jobs: int) -> int:
    """Upload the files' bytes as blobs (the large first), ``jobs`` requests at once; the
    bytes sent."""
    if not files:
        return 0
    total = sum(file.size for file in files)
    exit_after = int(os.environ.get(EXIT_AFTER_UPLOADS, "0"))
    ordered = sorted(files, key=lambda file: -file.size)  # none left to trail at the end
    with shown.phase("uploading", "uploaded", total, len(files)) as meter:

        def send(group: list[LocalFile]) -> None:
            try:
                if len(group) == 1 and group[0].size >= BATCH_BELOW:
                    (file,) = group
                    source = root / file.path
                    client.upload_blob(source, sha256=file.sha256, progress=meter.advance)
                else:
                    blobs = {file.sha256 or "": root / file.path for file in group}
                    client.upload_blobs(blobs, progress=meter.advance)
            except DataloftError as error:  # which file it was, with the server's reason
                raise DataloftError(_named(error.message, group)) from error
            for _ in group:
                meter.file_done()

        for finished, _ in enumerate(in_parallel(send, requests(ordered), jobs, "up"), start=1):
            if finished == exit_after:
                os._exit(75)  # the test hook: as abrupt as a kill
    return total


def _named(message: str, group: list[LocalFile]) -> str:
    """The server's message, said of the file it is about: the one whose sha256 it
    names (a batch's member), else the request's only file."""
    for file in group:
        if file.sha256 and file.sha256 in message:
            return f"{file.path}: {message}"
    if len(group) == 1:
        return f"{group[0].path}: {message}"
    return f"uploading {len(group)} files: {message}"
