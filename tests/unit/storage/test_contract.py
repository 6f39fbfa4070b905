"""The BlobStore contract, run against every store; then what only the local store does."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from dataloft.storage import BlobMissing, BlobStore, open_blob_store
from dataloft.storage.factory import BlobConfigError, check_blob_url
from dataloft.storage.local import LocalBlobStore
from dataloft.storage.locks import FileDigestLocks
from dataloft.storage.memory import MemoryBlobStore
from dataloft.storage.s3 import S3BlobStore
from tests.s3 import MotoServer
from tests.stores import age
from tests.support import open_files

DATA = bytes(range(256)) * 40  # 10240 bytes
OTHER = b"other bytes entirely"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MISSING = sha(b"never stored anywhere")


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "s3":
        return s3_store(request.getfixturevalue("s3_server"), tmp_path)
    return MemoryBlobStore()


def s3_store(server: MotoServer, tmp_path: Path, prefix: str = "blobs") -> S3BlobStore:
    """A store in a fresh bucket of ``server``'s, its client given the test credentials."""
    return S3BlobStore(
        server.new_bucket(), prefix, FileDigestLocks(tmp_path / "locks"), client=server.client()
    )


def put(store: BlobStore, data: bytes, *chunks: bytes) -> str:
    """Stage ``data`` (in the given chunks, if any) and publish it under its sha256."""
    staged = store.stage()
    for chunk in chunks or (data,):
        staged.write(chunk)
    digest = sha(data)
    staged.publish(digest)
    return digest


def read_all(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(store.read(digest, start, end))


def staged_files(store: BlobStore) -> list[Path]:
    assert isinstance(store, LocalBlobStore)
    return sorted(store.staging_dir.iterdir())


# --- contract ----------------------------------------------------------------------------------


def test_publish_makes_the_blob_visible(store: BlobStore) -> None:
    digest = put(store, DATA, DATA[:1000], DATA[1000:1001], b"", DATA[1001:])
    assert store.exists(digest)
    assert store.size(digest) == len(DATA)
    assert read_all(store, digest) == DATA
    assert list(store.digests()) == [digest]


def test_empty_blob(store: BlobStore) -> None:
    digest = put(store, b"")
    assert digest == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert store.exists(digest)
    assert store.size(digest) == 0
    assert read_all(store, digest) == b""


def test_nothing_is_visible_before_publish(store: BlobStore) -> None:
    digest = sha(DATA)
    staged = store.stage()
    staged.write(DATA)
    assert not store.exists(digest)
    assert list(store.digests()) == []
    with pytest.raises(BlobMissing):
        store.size(digest)
    with pytest.raises(BlobMissing):
        store.read(digest)
    with pytest.raises(BlobMissing):
        store.modified(digest)
    staged.publish(digest)
    assert store.exists(digest)
    assert list(store.digests()) == [digest]


def test_abort_leaves_nothing(store: BlobStore) -> None:
    digest = sha(DATA)
    staged = store.stage()
    staged.write(DATA)
    staged.abort()
    staged.abort()  # twice is fine
    assert not store.exists(digest)
    assert list(store.digests()) == []
    with pytest.raises(BlobMissing):
        store.size(digest)
    if isinstance(store, LocalBlobStore):
        assert staged_files(store) == []
        assert not store.path_of(digest).exists()
        assert not store.path_of(digest).parent.exists()


def test_abort_after_publish_keeps_the_blob(store: BlobStore) -> None:
    staged = store.stage()
    staged.write(DATA)
    staged.publish(sha(DATA))
    staged.abort()
    assert read_all(store, sha(DATA)) == DATA
    if isinstance(store, LocalBlobStore):
        assert staged_files(store) == []


def test_publishing_an_existing_digest_keeps_the_original(store: BlobStore) -> None:
    digest = put(store, DATA)
    # A second upload of "the same" digest with other bytes must not replace the first.
    staged = store.stage()
    staged.write(OTHER)
    staged.publish(digest)
    assert read_all(store, digest) == DATA
    assert store.size(digest) == len(DATA)
    assert list(store.digests()) == [digest]
    assert not store.exists(sha(OTHER))
    if isinstance(store, LocalBlobStore):
        assert staged_files(store) == []


def test_republishing_refreshes_modified(store: BlobStore) -> None:
    digest = put(store, DATA)
    assert abs(store.modified(digest) - time.time()) < 60
    age(store, digest, 3600)  # published an hour ago, as far as the store can tell
    first = store.modified(digest)
    put(store, DATA)
    assert store.modified(digest) > first


def test_several_stages_at_once(store: BlobStore) -> None:
    one, two = store.stage(), store.stage()
    one.write(b"one")
    two.write(b"two")
    one.write(b"!")
    two.publish(sha(b"two"))
    one.publish(sha(b"one!"))
    assert read_all(store, sha(b"one!")) == b"one!"
    assert read_all(store, sha(b"two")) == b"two"
    assert sorted(store.digests()) == sorted([sha(b"one!"), sha(b"two")])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, len(DATA)),
        (10, 20),
        (0, 1),
        (0, 0),
        (5000, None),
        (len(DATA) - 1, None),
        (len(DATA) - 1, len(DATA)),
        (5, len(DATA) + 100),
        (len(DATA), None),
        (len(DATA) + 10, None),
        (len(DATA) + 10, len(DATA) + 20),
        (20, 10),
    ],
)
def test_read_ranges(store: BlobStore, start: int, end: int | None) -> None:
    digest = put(store, DATA)
    expected = DATA[start:end]
    assert read_all(store, digest, start=start, end=end) == expected


@pytest.mark.parametrize(
    ("start", "end", "chunk_size"),
    [(0, None, 1000), (0, None, 1), (100, 2600, 1000), (0, None, len(DATA) - 1), (7, 8, 1000)],
)
def test_read_in_chunks(store: BlobStore, start: int, end: int | None, chunk_size: int) -> None:
    digest = put(store, DATA)
    expected = DATA[start:end]
    chunks = list(store.read(digest, start, end, chunk_size=chunk_size))
    assert b"".join(chunks) == expected
    assert all(0 < len(chunk) <= chunk_size for chunk in chunks)
    assert len(chunks) >= math.ceil(len(expected) / chunk_size)
    if len(expected) > chunk_size:
        assert len(chunks) > 1


def test_read_default_chunk_holds_a_small_blob_in_one_piece(store: BlobStore) -> None:
    digest = put(store, DATA)
    assert list(store.read(digest)) == [DATA]


def held(store: BlobStore) -> list[str]:
    """The store's files this process holds open (a memory store holds none)."""
    return open_files(store.root) if isinstance(store, LocalBlobStore) else []


@pytest.mark.parametrize("chunks_read", [0, 1, 2])
def test_a_reader_closed_early_releases_the_blob(store: BlobStore, chunks_read: int) -> None:
    """A download whose client leaves closes its reader, possibly before the first chunk."""
    digest = put(store, DATA)
    reader = store.read(digest, chunk_size=1000)
    if isinstance(store, LocalBlobStore):
        assert held(store)  # read opened it: a missing blob fails before a response starts
    for number in range(chunks_read):
        assert next(reader) == DATA[number * 1000 : (number + 1) * 1000]
    reader.close()
    assert held(store) == []  # with the reader still referenced: closing did it
    reader.close()  # idempotent
    assert list(reader) == []  # and nothing follows a close
    assert held(store) == []


@pytest.mark.parametrize(("start", "end"), [(0, None), (0, len(DATA)), (10, 20), (20, 10)])
def test_a_reader_read_to_the_end_releases_the_blob(
    store: BlobStore, start: int, end: int | None
) -> None:
    digest = put(store, DATA)
    reader = store.read(digest, start, end, chunk_size=1000)
    assert b"".join(reader) == DATA[start:end]
    assert held(store) == []
    reader.close()  # closing a finished reader is harmless
    assert list(reader) == []


def test_a_reader_releases_the_blob_once_its_range_is_read(store: BlobStore) -> None:
    """The last byte of a range in hand, nothing more is read: the file goes at once,
    without waiting for a ``next`` that only says there is no more."""
    digest = put(store, DATA)
    reader = store.read(digest, 0, 1500, chunk_size=1000)
    assert next(reader) == DATA[:1000]
    assert next(reader) == DATA[1000:1500]
    assert held(store) == []
    assert list(reader) == []


@pytest.mark.parametrize("digest", [MISSING, "not-a-digest", "", MISSING.upper()])
def test_missing_blob_raises_at_call_time(store: BlobStore, digest: str) -> None:
    put(store, DATA)
    with pytest.raises(BlobMissing):
        store.read(digest)  # no iteration: the error comes before the first chunk
    with pytest.raises(BlobMissing):
        store.read(digest, 0, 10, chunk_size=1)
    with pytest.raises(BlobMissing):
        store.size(digest)
    with pytest.raises(BlobMissing):
        store.modified(digest)
    assert not store.exists(digest)


def test_blob_missing_is_a_key_error() -> None:
    assert issubclass(BlobMissing, KeyError)


def test_delete(store: BlobStore) -> None:
    keep, gone = put(store, DATA), put(store, OTHER)
    assert store.delete(gone) is True
    assert not store.exists(gone)
    with pytest.raises(BlobMissing):
        store.read(gone)
    with pytest.raises(BlobMissing):
        store.size(gone)
    assert list(store.digests()) == [keep]
    assert read_all(store, keep) == DATA
    # and it can come back
    assert put(store, OTHER) == gone
    assert read_all(store, gone) == OTHER


@pytest.mark.parametrize("digest", [MISSING, "not-a-digest", ""])
def test_delete_of_a_missing_blob_is_silent(store: BlobStore, digest: str) -> None:
    kept = put(store, DATA)
    assert store.delete(digest) is False
    assert store.delete(digest, before=time.time() + 3600) is False
    assert list(store.digests()) == [kept]


def test_conditional_delete_removes_only_blobs_published_before(store: BlobStore) -> None:
    old, fresh = put(store, DATA), put(store, OTHER)
    age(store, old, 7200)
    before = time.time() - 3600
    assert store.delete(old, before=before) is True
    assert store.delete(fresh, before=before) is False
    assert list(store.digests()) == [fresh]
    assert read_all(store, fresh) == OTHER
    assert store.delete(old, before=before) is False  # gone already
    assert store.delete(fresh, before=time.time() + 3600) is True


def test_republishing_saves_a_blob_from_a_conditional_delete(store: BlobStore) -> None:
    digest = put(store, DATA)
    age(store, digest, 7200)
    before = time.time() - 3600
    assert store.modified(digest) < before
    put(store, DATA)  # an upload of the same bytes, after the collector's cutoff
    assert store.modified(digest) >= before
    assert store.delete(digest, before=before) is False
    assert read_all(store, digest) == DATA
    if isinstance(store, LocalBlobStore):
        assert list(store.trash_dir.iterdir()) == []


def test_digests_lists_every_blob(store: BlobStore) -> None:
    assert list(store.digests()) == []
    bodies = [b"", b"a", b"b", DATA, OTHER] + [os.urandom(50) for _ in range(20)]
    digests = {put(store, body) for body in bodies}
    found = list(store.digests())
    assert len(found) == len(digests) == 25
    assert set(found) == digests


def test_local_path(store: BlobStore) -> None:
    digest = put(store, DATA)
    path = store.local_path(digest)
    if isinstance(store, LocalBlobStore):
        assert path is not None
        assert path.read_bytes() == DATA
    else:
        assert path is None


def test_adopt_publishes_the_file_or_declines(store: BlobStore, tmp_path: Path) -> None:
    """A store either takes a whole file as a blob (and then has it, as after a publish)
    or says it cannot, and has nothing new."""
    whole = tmp_path / "whole"
    whole.write_bytes(DATA)
    digest = sha(DATA)
    if store.adopt(whole, digest):
        assert read_all(store, digest) == DATA
        assert list(store.digests()) == [digest]
    else:
        assert not store.exists(digest)


# --- local store only --------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_local_adopt_links_the_file_without_copying_it(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    whole.write_bytes(DATA)
    digest = sha(DATA)
    assert local.adopt(whole, digest)
    assert local.path_of(digest).stat().st_ino == whole.stat().st_ino
    assert stat.S_IMODE(local.path_of(digest).stat().st_mode) == 0o444
    whole.unlink()  # the caller's name goes; the blob stays
    assert read_all(local, digest) == DATA


def test_local_adopt_of_a_stored_digest_keeps_the_stored_copy(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    digest = put(local, DATA)
    stored = local.path_of(digest)
    os.utime(stored, (1_000_000_000, 1_000_000_000))
    again = tmp_path / "again"
    again.write_bytes(DATA)
    assert local.adopt(again, digest)
    assert stored.stat().st_ino != again.stat().st_ino  # no second copy took its place
    assert local.modified(digest) > 1_000_000_000 + 1  # refreshed, as a publish does


def test_local_adopt_declines_a_file_on_another_file_system(local: LocalBlobStore) -> None:
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or elsewhere.stat().st_dev == local.root.stat().st_dev:
        pytest.skip("no second file system to put the file on")
    with tempfile.NamedTemporaryFile(dir=elsewhere) as file:
        file.write(DATA)
        file.flush()
        assert not local.adopt(Path(file.name), sha(DATA))
    assert not local.exists(sha(DATA))


def test_local_layout(local: LocalBlobStore, tmp_path: Path) -> None:
    digest = put(local, DATA)
    expected = tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert local.path_of(digest) == expected
    assert local.local_path(digest) == expected
    assert expected.read_bytes() == DATA
    files = sorted(p.relative_to(tmp_path / "blobs") for p in local.root.rglob("*") if p.is_file())
    assert files == [Path(digest[:2]) / digest[2:4] / digest]


def test_local_blobs_are_read_only(local: LocalBlobStore) -> None:
    digest = put(local, DATA)
    assert stat.S_IMODE(local.path_of(digest).stat().st_mode) == 0o444
    # read-only files can still be deleted (the folder is writable)
    local.delete(digest)
    assert not local.path_of(digest).exists()


def test_local_republish_keeps_bytes_and_mode(local: LocalBlobStore) -> None:
    digest = put(local, DATA)
    path = local.path_of(digest)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    put(local, DATA)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert path.read_bytes() == DATA
    assert local.modified(digest) > 1_000_000_000 + 1


def test_local_digests_ignore_staging_and_strays(local: LocalBlobStore) -> None:
    digest = put(local, DATA)
    staged = local.stage()
    staged.write(b"pending")
    (local.root / digest[:2] / digest[2:4] / "not-a-digest").write_bytes(b"x")
    (local.root / "zz").mkdir()
    assert list(local.digests()) == [digest]
    staged.abort()


def test_clean_staging_removes_only_old_files(local: LocalBlobStore) -> None:
    old = local.stage()
    old.write(b"abandoned")
    (old_file,) = staged_files(local)
    an_hour_ago = time.time() - 3600
    os.utime(old_file, (an_hour_ago, an_hour_ago))
    fresh = local.stage()
    fresh.write(b"fresh")
    assert len(staged_files(local)) == 2
    assert local.clean_staging(older_than_seconds=600) == 1
    remaining = staged_files(local)
    assert len(remaining) == 1
    assert remaining[0] != old_file
    assert not old_file.exists()
    # the fresh upload is intact and can still be published
    fresh.publish(sha(b"fresh"))
    assert read_all(local, sha(b"fresh")) == b"fresh"
    old.abort()
    assert staged_files(local) == []
    assert local.clean_staging(older_than_seconds=600) == 0


def test_local_store_survives_reopening(tmp_path: Path) -> None:
    digest = put(LocalBlobStore(tmp_path / "blobs"), DATA)
    again = LocalBlobStore(tmp_path / "blobs")
    assert again.exists(digest)
    assert read_all(again, digest) == DATA
    assert list(again.digests()) == [digest]


# --- open_blob_store ---------------------------------------------------------------------------


def test_open_file_url(tmp_path: Path) -> None:
    root = tmp_path / "store root ü"
    url = "file://" + quote(str(root))
    opened = open_blob_store(url)
    assert isinstance(opened, LocalBlobStore)
    assert opened.root == root
    assert opened.url == url
    assert root.is_dir()
    digest = put(opened, DATA)
    assert (root / digest[:2] / digest[2:4] / digest).read_bytes() == DATA


def test_open_file_url_with_localhost(tmp_path: Path) -> None:
    opened = open_blob_store(f"file://localhost{tmp_path}/b")
    assert isinstance(opened, LocalBlobStore)
    assert opened.root == tmp_path / "b"


def test_open_memory_url() -> None:
    opened = open_blob_store("memory://")
    assert isinstance(opened, MemoryBlobStore)
    assert opened.url == "memory://"
    assert list(opened.digests()) == []


def test_memory_stores_are_separate() -> None:
    first, second = open_blob_store("memory://"), open_blob_store("memory://")
    digest = put(first, DATA)
    assert first.exists(digest)
    assert not second.exists(digest)


@pytest.mark.parametrize(
    "url",
    ["s3x://bucket/prefix", "ftp://host/x", "gopher://x", "/plain/path", "", "blobs", "mem://"],
)
def test_unknown_scheme_is_a_config_error(url: str) -> None:
    with pytest.raises(BlobConfigError, match="unknown blob store scheme"):
        open_blob_store(url)


def test_remote_file_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(BlobConfigError, match="must be local"):
        open_blob_store(f"file://otherhost{tmp_path}")


def test_file_url_without_a_path_is_a_config_error(tmp_path: Path) -> None:
    for url in ("file://", "file:", "file://localhost"):
        with pytest.raises(BlobConfigError, match="needs an absolute path"):
            open_blob_store(url)


def test_checking_a_url_opens_nothing(tmp_path: Path) -> None:
    """The settings check DATALOFT_BLOB_URL with check_blob_url before anything exists."""
    root = tmp_path / "not yet"
    assert check_blob_url(f"file://{root}").path == str(root)
    assert check_blob_url("memory://").scheme == "memory"
    assert not root.exists()
    assert check_blob_url("s3://bucket/prefix").netloc == "bucket"
    with pytest.raises(BlobConfigError, match="unknown blob store scheme"):
        check_blob_url("gs://bucket/prefix")


def test_blob_config_error_is_a_value_error() -> None:
    assert issubclass(BlobConfigError, ValueError)


def test_check_passes_on_a_usable_store(store: BlobStore) -> None:
    store.check()
    if isinstance(store, LocalBlobStore):
        assert staged_files(store) == []  # the file it made to try is gone


def test_local_check_fails_once_the_directory_is_gone(local: LocalBlobStore) -> None:
    shutil.rmtree(local.root)
    with pytest.raises(FileNotFoundError):
        local.check()
    (local.root / "tmp").mkdir(parents=True)
    local.check()
