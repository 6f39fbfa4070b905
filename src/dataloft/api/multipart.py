"""Streaming ``multipart/form-data``: small parts in memory, files straight into blob uploads.

File parts are hashed while they stream into the blob store's staging area (through an
``UploadFeed``: large writes in a worker thread while the body keeps arriving), and are not
published: once the whole body is read the caller decides which uploads to keep
(``MultipartForm.keep``) and the rest are thrown away, so bytes nobody refers to never
reach the store. Every limit is checked while the body streams, before more is read: the
number of parts, the headers of each (by the parser: at most ``MAX_PART_HEADERS`` lines of
``MAX_HEADER_SIZE`` bytes), the bytes kept in memory (each field, and all of them
together), and each file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from dataloft.api.limits import allow_body
from dataloft.api.transfer import UploadFeed
from dataloft.core.blobs import BlobService, StoredBlob, Upload
from dataloft.core.errors import Invalid, TooLarge

MAX_HEADER_SIZE = 8 * 1024
MAX_PART_HEADERS = 8


@dataclass
class Part:
    name: str
    filename: str | None
    media_type: str | None  # the part's Content-Type without parameters, lower case
    content_id: str | None
    data: bytearray = field(default_factory=bytearray)  # of a part kept in memory
    upload: Upload | None = None
    size: int = 0
    digest: str | None = None  # of a file part, once it is complete
    complete: bool = False
    # A file part's bytes on their way to ``upload``: parsed but not yet fed (views of the
    # body's immutable chunks, no copies), and the feed.
    pending: list[memoryview] = field(default_factory=list, repr=False)
    feed: UploadFeed | None = field(default=None, repr=False)

    @property
    def is_file(self) -> bool:
        return self.upload is not None


@dataclass
class MultipartForm:
    parts: list[Part]

    def files(self) -> list[Part]:
        return [part for part in self.parts if part.is_file]

    def fields(self) -> list[Part]:
        return [part for part in self.parts if not part.is_file]

    def keep(self, digests: Iterable[str]) -> list[StoredBlob]:
        """Publish the uploads with these digests (each once) and discard the others."""
        wanted, kept = set(digests), []
        for part in self.files():
            assert part.upload is not None and part.digest is not None
            if part.digest in wanted:
                wanted.discard(part.digest)
                kept.append(part.upload.finish())
            else:
                part.upload.abort()
        return kept

    def discard(self) -> None:
        for part in self.files():
            assert part.upload is not None
            part.upload.abort()


def _header_text(raw: bytes) -> str:
    # Header values are meant to be ASCII; browsers send UTF-8 file names raw.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _disposition(value: str) -> tuple[str, str | None]:
    """``name`` and ``filename`` of a ``Content-Disposition`` (``filename*`` included)."""
    message = Message()
    message["content-disposition"] = value
    name = message.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise Invalid("a multipart part has no name in its Content-Disposition")
    return name, message.get_filename()


class _Collector:
    """The parser's callbacks: headers and bytes of each part, as they are found."""

    def __init__(
        self,
        blobs: BlobService,
        in_memory: Callable[[str, str | None], bool],
        *,
        max_field_size: int,
        max_file_size: int,
        max_parts: int,
    ) -> None:
        self.blobs = blobs
        self.in_memory = in_memory
        self.max_field_size = max_field_size
        self.max_file_size = max_file_size
        self.max_parts = max_parts
        self.parts: list[Part] = []
        self.in_memory_bytes = 0  # of every part kept in memory, together
        self.ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        if len(self.parts) >= self.max_parts:
            raise TooLarge(f"a multipart body may hold at most {self.max_parts} parts")
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[_header_text(bytes(self._field)).strip().lower()] = _header_text(
            bytes(self._value)
        ).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        name, filename = _disposition(self._headers.get("content-disposition", ""))
        content_type = self._headers.get("content-type")
        media_type = parse_options_header(content_type)[0].decode("latin-1").lower() or None
        part = Part(name, filename, media_type, self._headers.get("content-id"))
        if filename is not None and not self.in_memory(name, filename):
            part.upload = self.blobs.start_upload(max_size=self.max_file_size)
            part.feed = UploadFeed(part.upload)
        self.parts.append(part)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.size += end - start
        if part.is_file:
            # ``data`` is a chunk of the body or the boundary: bytes, which nobody changes,
            # so a view of it is as good as a copy until ``_flush`` feeds it.
            if type(data) is not bytes:  # a parser that hands out a buffer it reuses
                data, start, end = bytes(data[start:end]), 0, end - start
            part.pending.append(memoryview(data)[start:end])
            return
        self.in_memory_bytes += end - start
        if part.size > self.max_field_size:
            raise TooLarge(
                f"multipart part {part.name!r} exceeds the limit of {self.max_field_size} bytes"
            )
        if self.in_memory_bytes > self.max_field_size:
            raise TooLarge(
                f"the fields of a multipart body exceed the limit of {self.max_field_size} "
                "bytes together"
            )
        part.data += memoryview(data)[start:end]

    def _part_end(self) -> None:
        self.parts[-1].complete = True

    def _end(self) -> None:
        self.ended = True


async def _flush(collector: _Collector) -> None:
    """Feed the bytes parsed for file parts to their uploads, and learn the digest of each
    part that is complete."""
    for part in collector.parts:
        if part.feed is None or part.digest is not None:
            continue
        pending, part.pending = part.pending, []
        try:
            for view in pending:
                await part.feed.write(view)
            if part.complete:
                await part.feed.close()
        except TooLarge:
            limit = collector.max_file_size
            raise TooLarge(f"file {part.filename!r} exceeds the limit of {limit} bytes") from None
        if part.complete:
            assert part.upload is not None
            part.digest = part.upload.digest()  # no hashing left to wait for: cheap


async def _abandon(parts: list[Part]) -> None:
    """Throw every upload away, once no write to it is still running."""
    for part in parts:
        if part.feed is not None:
            await part.feed.abandon()
    MultipartForm(parts).discard()


def boundary_of(content_type: str) -> bytes:
    media_type, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Invalid("expected multipart/form-data with a boundary")
    return boundary


async def read_multipart(
    request: Request,
    blobs: BlobService,
    *,
    in_memory: Callable[[str, str | None], bool],
    max_body: int,
    max_field_size: int,
    max_file_size: int,
    max_parts: int,
) -> MultipartForm:
    """Read a whole ``multipart/form-data`` body of at most ``max_parts`` parts. Parts
    without a file name, and files for which ``in_memory(name, filename)`` is true, are
    kept in memory (``Part.data``, at most ``max_field_size`` bytes all together); other
    files stream into blob uploads of at most ``max_file_size`` bytes, hashed but not yet
    published."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    allow_body(request, max_body)
    collector = _Collector(
        blobs,
        in_memory,
        max_field_size=max_field_size,
        max_file_size=max_file_size,
        max_parts=max_parts,
    )
    parser = MultipartParser(
        boundary,
        collector.callbacks(),  # type: ignore[arg-type]
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_HEADER_SIZE,
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await _flush(collector)
        parser.finalize()
        await _flush(collector)
        if not collector.ended:
            raise Invalid("the multipart body ended before its closing boundary")
    except MultipartParseError as error:
        await _abandon(collector.parts)
        raise Invalid(f"malformed multipart body: {error}") from None
    except ClientDisconnect:
        await _abandon(collector.parts)
        raise Invalid("the client went away before the body was sent") from None
    except BaseException:
        await _abandon(collector.parts)
        raise
    return MultipartForm(collector.parts)
