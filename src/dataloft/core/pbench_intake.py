"""Indexing an uploaded Pbench tarball: every member under its top directory ``<name>/``
becomes what a dataset version holds (``core/pbench_datasets.py`` commits it), so that
listing a directory or reading a file never unpacks anything again (Pbench Server
unpacked whole tarballs into a cache on the first such request).

- a regular file: a blob of its own (content-addressed, so a file that many tarballs
  share is stored once), with its mode and mtime as the entry's metadata;
- a hard link: the same blob as the member it links to;
- a symbolic link: a symlink entry with the target as stored (``core/tar_reading.py`` has
  refused targets that leave the archive; the commit checks them again, chained);
- a directory that holds nothing: a folder marker, so that it is still listed;
- ``<name>/metadata.log``: its text too (at most ``METALOG_LIMIT`` bytes), for the
  dataset's ``metalog``.

Members outside ``<name>/`` (a tarball that is not a Pbench result, archived as it is)
stay in the stored tarball, and are counted, but are not entries: Pbench's contents are
relative to ``<name>/``. Devices and fifos are counted too, and skipped.

Blobs stored before a later member is refused stay unreferenced until garbage
collection removes them, as with every upload that does not complete.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from dataloft.core.blobs import BlobRef, BlobService, StoredBlob, Upload
from dataloft.core.tar_reading import TarLimits, TarMember, TarReader
from dataloft.core.tar_stream import BinaryReadable

METADATA_LOG = "metadata.log"
# Makes indexed files durable (fsync, rename) while the indexer reads the next ones.
_FINISHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pbench-finish")
BATCH = 2 * 1024 * 1024
# How often a writer waiting for room in a full pipe looks whether its reader has gone.
METALOG_LIMIT = 1024 * 1024


@dataclass
class Indexed:
    """What one tarball holds, ready to commit."""

    files: list[tuple[str, StoredBlob, dict[str, Any]]] = field(default_factory=list)
    links: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # directories with nothing in them
    metalog: bytes | None = None
    outside: int = 0  # members not under <name>/
    skipped: int = 0  # devices, fifos and other kinds
    unpacked_size: int = 0


def _meta(member: TarMember) -> dict[str, Any]:
    return {"mode": f"0o{member.mode:o}", "mtime": member.mtime}


def index_tarball(
    blobs: BlobService, source: BinaryReadable, top: str, limits: TarLimits
) -> Indexed:
    """Read the tarball from ``source`` (front to back, once) and store its files.

    Each file's bytes are hashed and written here, in order; making them durable (the
    fsync and rename of ``Upload.finish``) goes to another thread while the next member is
    read, which took a 1 GiB tarball of 16 files from X to Y s to index."""
    indexed = Indexed()
    prefix = top + "/"
    by_path: dict[str, Future[StoredBlob]] = {}
    pending: list[tuple[str, Future[StoredBlob], dict[str, Any]]] = []
    directories: set[str] = set()
    reader = TarReader(source, limits)
    try:
        for member in reader:
            if member.path == top and member.kind == "directory":
                continue
            if not member.path.startswith(prefix):
                indexed.outside += 1
                continue
            path = member.path[len(prefix) :]
            if member.kind == "file":
                upload = _store(blobs, reader)
                # A small file goes inline into its row: nothing to make durable yet.
                if member.size <= blobs.inline_limit:
                    finishing: Future[StoredBlob] = Future()
                    finishing.set_result(upload.finish())
                else:
                    finishing = _FINISHER.submit(upload.finish)
                by_path[member.path] = finishing
                pending.append((path, finishing, _meta(member)))
                indexed.unpacked_size += member.size
                if path == METADATA_LOG and member.size <= METALOG_LIMIT:
                    indexed.metalog = blobs.read_all(_ref(finishing.result()))
            elif member.kind == "hardlink":
                assert member.link is not None  # the reader refuses one to an unknown member
                by_path[member.path] = by_path[member.link]
                pending.append((path, by_path[member.link], _meta(member)))
            elif member.kind == "symlink":
                assert member.link is not None
                indexed.links.append((path, member.link, _meta(member)))
            elif member.kind == "directory":
                directories.add(path)
            else:
                indexed.skipped += 1
    finally:
        wait([finishing for _, finishing, _ in pending])
    indexed.files = [(path, finishing.result(), meta) for path, finishing, meta in pending]
    indexed.folders = _empty(directories, indexed)
    return indexed


def _store(blobs: BlobService, reader: TarReader) -> Upload:
    """The current member's bytes hashed and written, in batches of ``BATCH`` bytes (one
    hash and write hop per batch, not per piece the decompressor gives): an upload for
    the caller to finish."""
    upload = blobs.start_upload()
    try:
        pieces: list[bytes] = []
        size = 0
        for chunk in reader.read():
            pieces.append(chunk)
            size += len(chunk)
            if size >= BATCH:
                upload.write_pieces(pieces)
                pieces, size = [], 0
        if pieces:
            upload.write_pieces(pieces)
        return upload
    except BaseException:
        upload.abort()
        raise


def _ref(stored: StoredBlob) -> BlobRef:
    return BlobRef(stored.digest, stored.size, stored.inline)


def _empty(directories: set[str], indexed: Indexed) -> list[str]:
    """The directories nothing else keeps alive: no file, link or other directory is
    inside them (the ones that hold something are implied by its path)."""
    held: set[str] = set()
    paths = [p for p, _, _ in indexed.files] + [p for p, _, _ in indexed.links]
    for path in [*paths, *directories]:
        parts = path.split("/")
        for end in range(1, len(parts)):
            held.add("/".join(parts[:end]))
    return sorted(d for d in directories if d not in held)
