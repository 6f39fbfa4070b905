"""Blobs as objects in an S3 bucket (AWS, or any S3-compatible service: MinIO, Ceph, ...):
``s3://bucket/prefix`` keeps a blob under ``<prefix>/ab/cd/<digest>``.

Staging and publishing
----------------------
Bytes are staged under ``<prefix>/tmp/<random>``: ``write`` gathers a part (``PART_SIZE``,
above S3's 5 MiB minimum) and sends it as one part of a multipart upload, on a thread of
the store while the caller fills the next part; at most one part per blob is in flight, so
a blob costs at most two parts of memory. ``publish`` completes the upload and copies the
object to its final key on the server side (CopyObject up to 5 GiB, UploadPartCopy
above), then deletes the staging object. Both a completed multipart upload and a copy
appear whole or not at all, so no final key ever names part of a blob; and the final key is
named by the digest the caller computed over the bytes it sent. A blob that never filled a
part is one PutObject to its final key at publish time, as atomic as a copy.

Every object under a final key carries its *publish stamp* in its metadata
(``x-amz-meta-dataloft-published``: epoch seconds, from the clock of the process that
published it). ``modified`` is that stamp, not S3's ``LastModified``: LastModified has a
resolution of one second and comes from the storage service's clock, while the collector's
cutoff comes from ours; the stamp is comparable with the cutoff to the millisecond, and two
dataloft processes disagree only by their own clock skew (as two writers of one shared file
system do). An object without a stamp (copied in by another tool) falls back to
LastModified. Re-publishing a stored digest keeps its bytes and copies the object onto
itself with a new stamp (``MetadataDirective=REPLACE``), which is what refreshes it.

Deleting while others upload
----------------------------
S3 has no "delete if not modified since" for general-purpose buckets, so publish and a
conditional delete exclude each other through a digest lock (``storage/locks.py``):

publish (P) of ``digest``, once the bytes are staged:
  P1. Take the digest's lock *shared*; read the clock: the stamp.
  P2. HEAD the final key. Present: copy it onto itself with the stamp. Absent: write our
      object (PutObject, or copy the staged object) with the stamp.
  P3. Release the lock.
conditional delete (D), ``delete(digest, before=cutoff)``:
  D1. Take the digest's lock *exclusive*.
  D2. HEAD the final key; delete it only if its stamp is before ``cutoff`` less
      ``STAMP_SLACK`` (the clocks of two processes may disagree a little: keeping a blob
      is always safe).
  D3. Release the lock.

Why no interleaving loses a published blob: P2 and D2 never overlap (shared against
exclusive). If D2 runs first, it deletes at worst an old object, and P2 then finds the key
free and writes its own. If P2 runs first, the object under the key carries P's stamp, read
after P began, hence no earlier than the cutoff for any publish that began after it; D2
sees that stamp and keeps the object. Only P and D change the object under a final key, and
a stamp only ever grows (each P stamps "now"), so once a publish that began after the
cutoff has returned, every later D keeps its blob. The collector takes its cutoff before
it deletes any row (``core/blobs.py``), as with the local store.

Which lock provider: PostgreSQL advisory locks (``db/advisory.py``) when the database is
PostgreSQL, so that every server process and ``dataloft gc`` on any machine exclude each
other; ``flock``s in the data directory on SQLite, whose processes share one machine
(``core/loft.py`` chooses).

Crashes leave at worst a staging object or an unfinished multipart upload under ``tmp/``,
never a partial blob: ``clean_staging`` (``dataloft gc --scan-store``) removes those older
than the grace period. Configure the bucket to abort incomplete multipart uploads after a
few days as well (docs/operations.md), which also frees their parts.

Reading streams a ranged GET (the request is made in ``read``, so a missing blob fails
before a response starts); the HTTP body is closed when the reader ends or is closed.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dataloft.storage.base import DEFAULT_CHUNK, BlobMissing, ByteBuffer, StoreUnavailable
from dataloft.storage.chunks import Chunks, memory_chunks
from dataloft.storage.locks import DigestLocks
from dataloft.storage.s3_options import S3Options

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

_DIGEST = re.compile(r"[0-9a-f]{64}")
P = ParamSpec("P")
R = TypeVar("R")
MiB = 1024 * 1024
GiB = 1024 * MiB
# Parts of a staged blob: 8 MiB (S3's minimum is 5 MiB, all parts but the last). An upload
# has at most 10,000 parts, so the part size doubles every ``PARTS_PER_SIZE`` parts: 8 MiB
# parts up to 7.8 GiB, 16 MiB up to 23 GiB, ... 512 MiB parts by about 1 TiB (the default
# DATALOFT_MAX_FILE_SIZE), and S3's 5 TiB object limit within 10,000 parts.
PART_SIZE = 8 * MiB
PARTS_PER_SIZE = 1000
MAX_PART = 5 * GiB
# CopyObject copies objects up to 5 GiB; larger ones are copied in parts of this size.
COPY_LIMIT = 5 * GiB
COPY_PART = 1 * GiB
# The publish stamp, in the object's user metadata (see the module docstring).
STAMP = "dataloft-published"
# Two dataloft processes' clocks may disagree this much: a conditional delete keeps a blob
# stamped this little before its cutoff too.
STAMP_SLACK = 2.0
# HTTP connections the store's client keeps: the server runs request handlers on anyio's
# 40 worker threads, and staged blobs send parts from ``PART_SENDERS`` threads more; with
# fewer, a busy server's threads would queue for a connection (botocore warns, then waits).
MAX_CONNECTIONS = 64
PART_SENDERS = 16
# Sends the parts of staged blobs while their writers gather the next ones.
_SENDERS = ThreadPoolExecutor(max_workers=PART_SENDERS, thread_name_prefix="s3-part")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_UPLOAD = frozenset({"404", "NoSuchUpload"})


def _reaching(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` with what S3 or the network refused as ``StoreUnavailable`` (a 503 to the
    client, one line in the log), not a crash: a missing blob is told apart before this
    (``BlobMissing``), so what is left is the service down, unreachable, or refusing
    the credentials."""

    if inspect.isgeneratorfunction(method):  # a listing: S3 is asked page by page

        @functools.wraps(method)
        def reaching_each(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
            with _refused():
                yield from method(*args, **kwargs)

        return cast(Callable[P, R], reaching_each)

    @functools.wraps(method)
    def reaching(*args: P.args, **kwargs: P.kwargs) -> R:
        with _refused():
            return method(*args, **kwargs)

    return reaching


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise StoreUnavailable(f"the S3 blob store failed: {error}") from error


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def part_size(number: int) -> int:
    """The size of part ``number`` (from 1) of a staged blob."""
    return min(PART_SIZE << ((number - 1) // PARTS_PER_SIZE), MAX_PART)


class _S3Staged:
    """A blob being staged: see "Staging and publishing" in the module docstring."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._key = store.staging_key()
        self._buffer: bytearray | None = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._handed_off = 0  # parts given to a sender
        self._parts: list[CompletedPartTypeDef] = []  # parts sent
        self._sending: Future[CompletedPartTypeDef] | None = None
        self._staged_object = False  # a completed staging object to remove

    @_reaching
    def write(self, data: ByteBuffer) -> None:
        if self._buffer is None:
            raise ValueError("staged blob already finished")
        view = memoryview(data).cast("B")
        self._size += len(view)
        while view:
            wanted = part_size(self._handed_off + 1)
            taken = min(wanted - len(self._buffer), len(view))
            self._buffer += view[:taken]
            view = view[taken:]
            if len(self._buffer) == wanted:
                self._send_part()

    def _send_part(self) -> None:
        """Hand the gathered part to a sender thread, once the part before it is sent: at
        most one part in flight, so a blob holds at most two parts of memory."""
        assert self._buffer is not None
        self._wait()
        if self._upload_id is None:
            self._upload_id = self._store.start_multipart(self._key)
        part, self._buffer = bytes(self._buffer), bytearray()
        self._handed_off += 1
        self._sending = _SENDERS.submit(
            self._store.send_part, self._key, self._upload_id, self._handed_off, part
        )

    def _wait(self) -> None:
        """Wait for the part in flight; its error, if any, is raised here."""
        if self._sending is not None:
            sending, self._sending = self._sending, None
            self._parts.append(sending.result())

    @_reaching
    def publish(self, digest: str) -> None:
        if self._buffer is None:
            raise ValueError("staged blob already finished")
        store = self._store
        try:
            target = store.key_of(digest)
            if self._upload_id is None:
                # Never filled a part: one PutObject, straight to the final key.
                small = bytes(self._buffer)
                self._buffer = None
                store.install(digest, target, lambda stamp: store.put(target, small, stamp))
                return
            if self._buffer:
                self._send_part()
            self._buffer = None
            self._wait()
            store.complete_multipart(self._key, self._upload_id, self._parts)
            self._upload_id, self._staged_object = None, True
            store.install(
                digest, target, lambda stamp: store.copy(self._key, target, self._size, stamp)
            )
        except BaseException:
            self.abort()
            raise
        self.abort()  # the staging object has served

    def abort(self) -> None:
        self._buffer = None
        with contextlib.suppress(Exception):  # its failure no longer matters: all goes
            self._wait()
        if self._upload_id is not None:
            self._store.abort_multipart(self._key, self._upload_id)
            self._upload_id = None
        if self._staged_object:
            self._store.remove_staging(self._key)
            self._staged_object = False


class _BodyChunks:
    """The bytes of a GET's body, chunk by chunk (``Chunks``): it owns the HTTP response from
    the moment ``read`` made the request, and closes it after the last byte or on
    ``close`` (a class, not a generator: see ``storage/local.py``'s ``_FileChunks``)."""

    def __init__(self, body: StreamingBody, length: int, chunk_size: int) -> None:
        self._body: StreamingBody | None = body
        self._remaining = length
        self._chunk_size = chunk_size

    def __iter__(self) -> _BodyChunks:
        return self

    def __next__(self) -> bytes:
        if self._body is None or self._remaining <= 0:
            self.close()
            raise StopIteration
        chunk = self._body.read(min(self._chunk_size, self._remaining))
        if not chunk:
            self.close()
            raise StopIteration
        self._remaining -= len(chunk)
        if self._remaining <= 0:
            self.close()  # the last byte is in hand: let the connection go now
        return chunk

    def close(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        locks: DigestLocks,
        options: S3Options | None = None,
        *,
        url: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = url or f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.locks = locks
        self.options = options or S3Options()
        # One client for the store, shared by every thread (botocore clients are
        # thread-safe); credentials come from boto3's usual chain. Presigned URLs are
        # signed with SigV4, which every region accepts.
        self.client: S3Client = client or boto3.session.Session().client(
            "s3",
            endpoint_url=self.options.endpoint_url,
            region_name=self.options.region,
            config=Config(
                max_pool_connections=MAX_CONNECTIONS,
                retries={"mode": "standard"},
                signature_version="s3v4",
            ),
        )
        # botocore computes CRC32 checksums of parts unless configured "when_required"
        # (some S3-compatible services refuse them): a multipart upload then says so when it
        # starts, and names each part's checksum when it completes, as S3 requires.
        calculation = getattr(self.client.meta.config, "request_checksum_calculation", None)
        self._checksums = calculation != "when_required"

    # --- keys --------------------------------------------------------------------------------

    def _under_prefix(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def key_of(self, digest: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise BlobMissing(digest)
        return self._under_prefix(f"{digest[:2]}/{digest[2:4]}/{digest}")

    @property
    def staging_prefix(self) -> str:
        return self._under_prefix("tmp/")

    def staging_key(self) -> str:
        return self.staging_prefix + secrets.token_hex(16)

    # --- staging -----------------------------------------------------------------------------

    def stage(self) -> _S3Staged:
        return _S3Staged(self)

    def start_multipart(self, key: str) -> str:
        extra: dict[str, Any] = {"ChecksumAlgorithm": "CRC32"} if self._checksums else {}
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]

    def send_part(self, key: str, upload_id: str, number: int, data: bytes) -> CompletedPartTypeDef:
        extra: dict[str, Any] = {"ChecksumAlgorithm": "CRC32"} if self._checksums else {}
        sent = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
        )
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": sent["ETag"]}
        if "ChecksumCRC32" in sent:
            part["ChecksumCRC32"] = sent["ChecksumCRC32"]
        return part

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[CompletedPartTypeDef]
    ) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if _error_code(error) not in _NO_UPLOAD:
                raise

    def remove_staging(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)  # no error if it is absent

    def put(self, key: str, data: bytes, stamp: float) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=_stamped(stamp))

    def copy(self, source: str, target: str, size: int, stamp: float) -> None:
        """Copy an object on the server side, giving the copy ``stamp``: one CopyObject up
        to 5 GiB, else a multipart copy (complete, or nothing, under ``target``)."""
        if size <= COPY_LIMIT:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE",
                Metadata=_stamped(stamp),
            )
            return
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=target, Metadata=_stamped(stamp)
        )["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, start in enumerate(range(0, size, COPY_PART), start=1):
                end = min(start + COPY_PART, size) - 1
                copied = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.abort_multipart(target, upload_id)
            raise

    def install(self, digest: str, target: str, write: Callable[[float], None]) -> None:
        """Steps P1 to P3 of the module docstring: under the digest's shared lock, refresh
        the stored object's stamp if there is one, else ``write(stamp)`` our own."""
        with self.locks.hold(digest, exclusive=False):
            stamp = time.time()
            try:
                size = self._head(target)["ContentLength"]
            except BlobMissing:
                write(stamp)
                return
            self.copy(target, target, size, stamp)

    # --- reading -----------------------------------------------------------------------------

    def adopt(self, path: Path, digest: str) -> bool:
        return False  # no file system of ours: the bytes are staged like any others

    def _head(self, key: str) -> Any:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _NOT_FOUND:
                raise BlobMissing(key) from None
            raise

    @_reaching
    def exists(self, digest: str) -> bool:
        try:
            self._head(self.key_of(digest))
        except BlobMissing:
            return False
        return True

    @_reaching
    def size(self, digest: str) -> int:
        size: int = self._head(self.key_of(digest))["ContentLength"]
        return size

    @_reaching
    def modified(self, digest: str) -> float:
        return _stamp_of(self._head(self.key_of(digest)))

    @_reaching
    def read(
        self, digest: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK
    ) -> Chunks:
        key = self.key_of(digest)
        if end is not None and end <= start:
            self._head(key)  # nothing to read, but a missing blob still says so now
            return memory_chunks(b"", 0, 0, chunk_size)
        try:
            if start or end is not None:
                span = f"bytes={start}-{'' if end is None else end - 1}"
                got = self.client.get_object(Bucket=self.bucket, Key=key, Range=span)
            else:  # the whole object (a Range would fail on an empty one)
                got = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            code = _error_code(error)
            if code in _NOT_FOUND:
                raise BlobMissing(digest) from None
            if code == "InvalidRange":  # starts at or after the end: no bytes
                return memory_chunks(b"", 0, 0, chunk_size)
            raise
        return _BodyChunks(got["Body"], got["ContentLength"], chunk_size)

    def check(self) -> None:
        """The bucket answers a HEAD with these credentials (a readiness probe's question:
        one request, no listing; botocore raises ``ClientError`` naming the refusal)."""
        self.client.head_bucket(Bucket=self.bucket)

    def local_path(self, digest: str) -> Path | None:
        return None

    def presigned_url(self, digest: str, *, media_type: str, disposition: str | None) -> str | None:
        """A URL that lets its holder GET the blob for ``presign_seconds``, answered with
        exactly this ``Content-Type`` and ``Content-Disposition``; None when presigned
        downloads are off. Signing is local: no request is made."""
        if self.options.presign_seconds is None:
            return None
        params: dict[str, str] = {
            "Bucket": self.bucket,
            "Key": self.key_of(digest),
            "ResponseContentType": media_type,
        }
        if disposition is not None:
            params["ResponseContentDisposition"] = disposition
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.options.presign_seconds
        )
        return url

    # --- deleting ----------------------------------------------------------------------------

    @_reaching
    def delete(self, digest: str, *, before: float | None = None) -> bool:
        try:
            key = self.key_of(digest)
        except BlobMissing:
            return False
        if before is None:
            try:
                self._head(key)
            except BlobMissing:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=key)
            return True
        with self.locks.hold(digest, exclusive=True):  # D1 to D3 of the module docstring
            try:
                stamp = _stamp_of(self._head(key))
            except BlobMissing:
                return False
            if stamp >= before - STAMP_SLACK:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=key)
            return True

    @_reaching
    def digests(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._under_prefix("")
        )
        start = len(self._under_prefix(""))
        for page in pages:
            for item in page.get("Contents", []):
                parts = item["Key"][start:].split("/")
                if (
                    len(parts) == 3
                    and _DIGEST.fullmatch(parts[2])
                    and parts[0] == parts[2][:2]
                    and parts[1] == parts[2][2:4]
                ):
                    yield parts[2]

    @_reaching
    def clean_staging(self, older_than_seconds: float) -> int:
        """Remove staging objects and abort multipart uploads that crashed uploads left
        under ``tmp/`` more than ``older_than_seconds`` ago; returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        objects = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.staging_prefix
        )
        for page in objects:
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    self.remove_staging(item["Key"])
                    removed += 1
        uploads = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.staging_prefix
        )
        for listing in uploads:
            for upload in listing.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff:
                    self.abort_multipart(upload["Key"], upload["UploadId"])
                    removed += 1
        return removed


def _stamped(stamp: float) -> dict[str, str]:
    return {STAMP: f"{stamp:.6f}"}


def _stamp_of(head: Any) -> float:
    """The publish stamp of a HEAD's object; its LastModified if it has none."""
    try:
        return float(head.get("Metadata", {})[STAMP])
    except (KeyError, ValueError):
        modified: datetime = head["LastModified"]
        return modified.timestamp()
