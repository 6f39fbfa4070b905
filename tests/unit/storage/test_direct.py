"""Large blobs written around the page cache (``storage/direct.py``), on a real file system:
the bytes that land, the switch into and out of ``O_DIRECT``, the bounded buffers, and
failures half-way."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from dataloft.core.blobs import BlobService
from dataloft.core.errors import StorageFull
from dataloft.core.loft import Loft
from dataloft.storage import direct
from dataloft.storage.base import ByteBuffer
from dataloft.storage.direct import ALIGN, BUFFER, DirectWriter, _mount_types, worth_it
from dataloft.storage.local import DIRECT_FROM, LocalBlobStore, _LocalStaged


def _pattern(size: int) -> bytes:
    """Bytes that differ from block to block, so that a block written twice or out of place
    shows."""
    block = hashlib.sha256(str(size).encode()).digest() * (ALIGN // 32)
    whole = bytearray()
    number = 0
    while len(whole) < size:
        whole += number.to_bytes(8, "big") + block[8:]
        number += 1
    return bytes(whole[:size])


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


@pytest.fixture
def disk_store(tmp_path: Path) -> LocalBlobStore:
    store = LocalBlobStore(tmp_path / "blobs")
    if not store.direct_writes:
        pytest.skip(f"{tmp_path} is on a file system in memory: nothing is written directly")
    return store


def test_mount_types_reads_the_type_and_unescapes_the_mount_point() -> None:
    mountinfo = (
        "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "30 22 0:25 / /dev/shm rw,nosuid shared:4 - tmpfs tmpfs rw\n"
        r"41 22 0:40 / /mnt/my\040disk rw shared:9 master:2 - xfs /dev/vdb rw"
        "\n"
        "garbage\n"
    )
    assert _mount_types(mountinfo) == {"/": "ext4", "/dev/shm": "tmpfs", "/mnt/my disk": "xfs"}


def test_a_file_system_in_memory_is_not_written_directly(tmp_path: Path) -> None:
    types = _mount_types(Path("/proc/self/mountinfo").read_text())
    if types.get("/dev/shm") == "tmpfs":
        assert not worth_it(Path("/dev/shm"))
    resolved = tmp_path.resolve()
    home = next(str(place) for place in (resolved, *resolved.parents) if str(place) in types)
    assert worth_it(tmp_path) == (types[home] not in {"tmpfs", "ramfs"})
    assert LocalBlobStore(tmp_path / "blobs").direct_writes == worth_it(tmp_path)


@pytest.mark.parametrize(
    "size",
    [
        DIRECT_FROM + 1,
        DIRECT_FROM + ALIGN,
        DIRECT_FROM + BUFFER,
        DIRECT_FROM + 3 * BUFFER + ALIGN + 5,
        DIRECT_FROM + 2 * BUFFER - 1,
    ],
)
@pytest.mark.parametrize("piece", [100_003, BUFFER, 3 * BUFFER + 7])
def test_a_large_blob_lands_byte_for_byte(
    disk_store: LocalBlobStore, size: int, piece: int
) -> None:
    data = _pattern(size)
    staged = disk_store.stage()
    for part in _pieces(data, piece):
        staged.write(part)
    assert staged._fd is not None
    # Past the threshold the staging file is open for direct writes...
    assert fcntl.fcntl(staged._fd, fcntl.F_GETFL) & os.O_DIRECT
    digest = hashlib.sha256(data).hexdigest()
    staged.publish(digest)
    assert disk_store.path_of(digest).read_bytes() == data
    assert list(disk_store.staging_dir.iterdir()) == []


def test_a_blob_up_to_the_threshold_goes_through_the_page_cache(disk_store: LocalBlobStore) -> None:
    data = _pattern(DIRECT_FROM)
    staged = disk_store.stage()
    staged.write(data)
    assert staged._fd is not None
    assert not fcntl.fcntl(staged._fd, fcntl.F_GETFL) & os.O_DIRECT
    digest = hashlib.sha256(data).hexdigest()
    staged.publish(digest)
    assert disk_store.path_of(digest).read_bytes() == data


def test_many_writers_at_once_share_a_bounded_set_of_buffers(tmp_path: Path) -> None:
    """More writers than ``_MOST``: each has its one buffer, the extra ones write without a
    second, every file is right, and the extra buffers are let go afterwards."""
    if not worth_it(tmp_path):
        pytest.skip("a file system in memory")
    count = direct._MOST + 3
    datas = [_pattern(5 * BUFFER + 1000 * number + ALIGN) for number in range(count)]
    fds = [os.open(tmp_path / f"f{number}", os.O_WRONLY | os.O_CREAT) for number in range(count)]
    try:
        writers = [DirectWriter(fd) for fd in fds]
        assert all(writer.direct for writer in writers)
        assert direct._made >= count  # one each, whatever the bound
        for pieces in zip(*(_pieces(data, 300_001) for data in datas), strict=False):
            for writer, part in zip(writers, pieces, strict=True):
                writer.write(part)
        for writer in writers:
            writer.finish()
        writers[0].finish()  # a second finish does nothing
    finally:
        for fd in fds:
            os.close(fd)
    for number, data in enumerate(datas):
        assert (tmp_path / f"f{number}").read_bytes() == data
    assert direct._made <= direct._MOST
    assert len(direct._pool) <= direct._MOST


def test_abort_half_way_leaves_nothing_and_frees_the_buffers(disk_store: LocalBlobStore) -> None:
    staged = disk_store.stage()
    staged.write(_pattern(DIRECT_FROM + 3 * BUFFER + 17))
    staged.abort()
    assert list(disk_store.staging_dir.iterdir()) == []
    assert list(disk_store.digests()) == []
    assert direct._made <= direct._MOST


class _FullAfterThreshold(LocalBlobStore):
    """A real local store whose staging files stop taking bytes once direct writes begin:
    the descriptor is pointed at the kernel's /dev/full (every write ENOSPC) right after the
    buffered part, as if the disk filled up then."""

    def stage(self) -> _LocalStaged:
        staged = super().stage()
        original = staged.write

        def write(data: ByteBuffer) -> None:
            began = staged._direct is not None
            original(data)
            if not began and staged._direct is not None:
                full = os.open("/dev/full", os.O_WRONLY)
                assert staged._fd is not None
                os.dup2(full, staged._fd)
                os.close(full)

        staged.write = write  # type: ignore[method-assign]
        return staged


def test_a_disk_that_fills_during_direct_writes_fails_the_upload(
    loft: Loft, tmp_path: Path
) -> None:
    store = _FullAfterThreshold(tmp_path / "blobs")
    if not store.direct_writes:
        pytest.skip("a file system in memory")
    blobs = BlobService(loft.db, store, inline_limit=16, max_size=1 << 40)
    upload = blobs.start_upload()
    with pytest.raises(StorageFull) as raised:
        for part in _pieces(_pattern(DIRECT_FROM + 8 * BUFFER), BUFFER):
            upload.write(part)
        upload.finish()
    assert isinstance(raised.value.__cause__, OSError)
    assert raised.value.__cause__.errno == errno.ENOSPC
    assert list(store.digests()) == []
    assert list(store.staging_dir.iterdir()) == []
