"""``UploadFeed``: the bytes of a body, fed in whatever pieces the server delivers them, end
up in the blob in order and whole, in batches of ``UPLOAD_BATCH`` (a batch may start in
memory, to go inline, and go on in the store); a write that fails surfaces, and ``abandon``
leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from dataloft.api.transfer import UPLOAD_BATCH, UploadFeed
from dataloft.core.blobs import BlobRef, BlobService, StoredBlob
from dataloft.core.errors import TooLarge
from dataloft.core.loft import Loft
from dataloft.storage.local import LocalBlobStore


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, in turn, until it runs out."""
    pieces, offset, turn = [], 0, 0
    while offset < len(data):
        size = sizes[turn % len(sizes)]
        pieces.append(data[offset : offset + size])
        offset, turn = offset + size, turn + 1
    return pieces


def _blobs(loft: Loft, root: Path, max_size: int = 1 << 30) -> BlobService:
    return BlobService(loft.db, LocalBlobStore(root), inline_limit=1024, max_size=max_size)


async def _feed(blobs: BlobService, pieces: list[bytes]) -> StoredBlob:
    upload = blobs.start_upload()
    feed = UploadFeed(upload)
    for piece in pieces:
        await feed.write(piece)
    await feed.close()
    return upload.finish()


# Several batches, and a last one that is not full.
LARGE = 4 * UPLOAD_BATCH + 12_345


def test_pieces_of_any_size_arrive_whole_and_in_order(loft: Loft, tmp_path: Path) -> None:
    data = os.urandom(LARGE)
    blobs = _blobs(loft, tmp_path)
    # The first batch passes the inline limit (1 KiB) in its second piece.
    pieces = _pieces(data, [1, 65536, 7, 262144, 3 * UPLOAD_BATCH + 5, 999])
    stored = asyncio.run(_feed(blobs, pieces))
    assert stored.digest == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data) and stored.inline is None
    assert blobs.read_all(BlobRef(stored.digest, stored.size, None)) == data


def test_a_small_body_stays_inline(loft: Loft, tmp_path: Path) -> None:
    data = b"a small file"
    stored = asyncio.run(_feed(_blobs(loft, tmp_path), [data[:5], data[5:]]))
    assert (stored.digest, stored.inline) == (hashlib.sha256(data).hexdigest(), data)


def test_a_failed_write_surfaces_and_abandon_leaves_nothing(loft: Loft, tmp_path: Path) -> None:
    blobs = _blobs(loft, tmp_path, max_size=UPLOAD_BATCH)
    upload = blobs.start_upload()
    feed = UploadFeed(upload)

    async def overflow() -> None:
        try:
            for piece in _pieces(os.urandom(3 * UPLOAD_BATCH), [100_000]):
                await feed.write(piece)
            await feed.close()
        except BaseException:
            await feed.abandon()
            upload.abort()
            raise

    with pytest.raises(TooLarge):
        asyncio.run(overflow())
    store = LocalBlobStore(tmp_path)
    assert list(store.digests()) == [] and list(store.staging_dir.iterdir()) == []
