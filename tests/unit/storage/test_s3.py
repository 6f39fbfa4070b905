"""What only the S3 store does (the contract suite runs it too): multipart staging, the
staging area, publish stamps, the digest locks that keep publish and conditional delete
apart (flock and PostgreSQL advisory locks), and its URLs. Against moto's S3 server."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import Engine, create_engine, text

from dataloft.db.advisory import NAMESPACE, AdvisoryDigestLocks, digest_key
from dataloft.db.engine import normalise_url
from dataloft.db.migrate import _PG_MIGRATION_LOCK
from dataloft.storage import s3 as s3_module
from dataloft.storage.factory import BlobConfigError, check_blob_url, open_blob_store
from dataloft.storage.locks import DigestLocks, FileDigestLocks
from dataloft.storage.s3 import PART_SIZE, STAMP, S3BlobStore, part_size
from dataloft.storage.s3_options import S3Options
from tests import support
from tests.s3 import REGION, MotoServer, aws_environment
from tests.stores import age
from tests.unit.storage.test_contract import put, read_all, s3_store, sha

MiB = 1024 * 1024
BIG = os.urandom(20 * MiB)  # three parts: 8 + 8 + 4 MiB
WAIT = 30.0


@pytest.fixture
def s3(s3_server: MotoServer, tmp_path: Path) -> S3BlobStore:
    return s3_store(s3_server, tmp_path)


def keys(store: S3BlobStore) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def uploads(store: S3BlobStore) -> list[str]:
    listed = store.client.list_multipart_uploads(Bucket=store.bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def final_key(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


# --- staging and publishing ------------------------------------------------------------------


def test_a_large_blob_goes_up_in_parts_and_reads_back_by_ranges(s3: S3BlobStore) -> None:
    digest = put(s3, BIG, *(BIG[i : i + 3 * MiB] for i in range(0, len(BIG), 3 * MiB)))
    assert keys(s3) == [final_key(digest)]  # the staging object is gone
    assert uploads(s3) == []
    assert s3.size(digest) == len(BIG)
    assert hashlib.sha256(read_all(s3, digest)).hexdigest() == digest
    for start, end in [
        (PART_SIZE - 10, PART_SIZE + 10),  # across the first part boundary
        (2 * PART_SIZE - 1, 2 * PART_SIZE + 1),
        (PART_SIZE, None),
        (len(BIG) - 5, len(BIG) + 5),
        (0, 3 * PART_SIZE),
    ]:
        assert read_all(s3, digest, start, end) == BIG[start:end], (start, end)
    chunks = list(s3.read(digest, 5, 5 + 3 * MiB, chunk_size=MiB))
    assert [len(chunk) for chunk in chunks] == [MiB] * 3


def test_objects_beyond_copy_objects_limit_are_copied_in_parts(
    s3: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CopyObject stops at 5 GiB: past it a publish copies (and a re-publish refreshes)
    with UploadPartCopy. The limit lowered to 8 MiB so that 20 MiB cross it."""
    monkeypatch.setattr(s3_module, "COPY_LIMIT", PART_SIZE)
    monkeypatch.setattr(s3_module, "COPY_PART", PART_SIZE)
    digest = put(s3, BIG)
    assert keys(s3) == [final_key(digest)]
    assert uploads(s3) == []
    head = s3.client.head_object(Bucket=s3.bucket, Key=final_key(digest))
    assert head["ETag"].endswith('-3"')  # three copied parts
    assert read_all(s3, digest) == BIG
    age(s3, digest, 7200)
    aged = s3.modified(digest)
    put(s3, BIG)  # onto itself, in parts
    assert s3.modified(digest) > aged + 7000
    assert read_all(s3, digest) == BIG
    assert uploads(s3) == []


def test_a_small_blob_is_one_put_without_multipart(s3: S3BlobStore) -> None:
    staged = s3.stage()
    staged.write(b"small")
    assert uploads(s3) == []
    assert keys(s3) == []
    staged.publish(sha(b"small"))
    assert keys(s3) == [final_key(sha(b"small"))]


def test_nothing_is_under_the_final_key_while_staging(s3: S3BlobStore) -> None:
    digest = sha(BIG)
    staged = s3.stage()
    staged.write(BIG)  # two full parts sent, the rest gathered
    assert keys(s3) == []
    (staging,) = uploads(s3)
    assert staging.startswith("blobs/tmp/")
    assert not s3.exists(digest)
    assert list(s3.digests()) == []
    staged.publish(digest)
    assert keys(s3) == [final_key(digest)]
    assert uploads(s3) == []


def test_abort_leaves_no_object_and_no_multipart_upload(s3: S3BlobStore) -> None:
    staged = s3.stage()
    staged.write(BIG)
    assert uploads(s3) != []
    staged.abort()
    staged.abort()  # twice is fine
    assert keys(s3) == []
    assert uploads(s3) == []


def test_parts_grow_so_that_ten_thousand_reach_five_tebibytes() -> None:
    assert part_size(1) == part_size(1000) == PART_SIZE
    assert part_size(1001) == 2 * PART_SIZE
    assert sum(part_size(number) for number in range(1, 10_001)) >= 5 * 1024**4


def test_republishing_a_large_blob_refreshes_its_stamp_and_keeps_its_bytes(
    s3: S3BlobStore,
) -> None:
    digest = put(s3, BIG)
    age(s3, digest, 7200)
    aged = s3.modified(digest)
    put(s3, BIG)
    assert s3.modified(digest) > aged + 7000
    head = s3.client.head_object(Bucket=s3.bucket, Key=final_key(digest))
    assert abs(float(head["Metadata"][STAMP]) - time.time()) < 60
    assert keys(s3) == [final_key(digest)]
    assert read_all(s3, digest, len(BIG) - 3) == BIG[-3:]


def test_an_object_without_a_stamp_counts_from_its_last_modified(s3: S3BlobStore) -> None:
    digest = sha(b"copied in by another tool")
    s3.client.put_object(Bucket=s3.bucket, Key=final_key(digest), Body=b"copied in by another tool")
    assert abs(s3.modified(digest) - time.time()) < 60
    assert s3.delete(digest, before=time.time() - 3600) is False
    assert s3.delete(digest, before=time.time() + 3600) is True


def test_conditional_delete_keeps_a_republished_blob_and_removes_an_old_one(
    s3: S3BlobStore,
) -> None:
    old, fresh = put(s3, b"old bytes"), put(s3, b"fresh bytes")
    age(s3, old, 7200)
    age(s3, fresh, 7200)
    cutoff = time.time() - 3600
    put(s3, b"fresh bytes")  # uploaded again after the collector's cutoff
    assert s3.delete(old, before=cutoff) is True
    assert s3.delete(fresh, before=cutoff) is False
    assert list(s3.digests()) == [fresh]


def test_digests_skip_staging_strays_and_other_prefixes(
    s3: S3BlobStore, s3_server: MotoServer, tmp_path: Path
) -> None:
    digest = put(s3, b"listed")
    staged = s3.stage()
    staged.write(BIG)
    client, bucket = s3.client, s3.bucket
    client.put_object(Bucket=bucket, Key=f"blobs/{digest[:2]}/{digest[2:4]}/not-a-digest", Body=b"")
    client.put_object(Bucket=bucket, Key=f"blobs/00/00/{digest}", Body=b"")  # wrong shard
    client.put_object(Bucket=bucket, Key=f"other/{digest[:2]}/{digest[2:4]}/{digest}", Body=b"")
    assert list(s3.digests()) == [digest]
    neighbour = S3BlobStore(bucket, "other", s3.locks, client=client)
    assert list(neighbour.digests()) == [digest]
    staged.abort()


def test_a_store_without_a_prefix_keeps_blobs_at_the_top(
    s3_server: MotoServer, tmp_path: Path
) -> None:
    store = s3_store(s3_server, tmp_path, prefix="")
    digest = put(store, b"at the top")
    assert keys(store) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]
    assert list(store.digests()) == [digest]


def test_clean_staging_removes_old_staging_objects_and_uploads(s3: S3BlobStore) -> None:
    kept = put(s3, b"a blob")
    staged = s3.stage()
    staged.write(BIG)  # an unfinished multipart upload
    s3.client.put_object(Bucket=s3.bucket, Key="blobs/tmp/left-by-a-crash", Body=b"x")
    # A young staging object stays. (moto says every multipart upload began in 2010, so
    # only "older than a minute from now" tells its uploads apart from young ones.)
    s3.clean_staging(older_than_seconds=3600)
    assert "blobs/tmp/left-by-a-crash" in keys(s3)
    assert s3.clean_staging(older_than_seconds=-60) >= 1
    assert uploads(s3) == []
    assert keys(s3) == [final_key(kept)]
    staged.abort()  # the upload is gone already: still fine


def test_read_of_an_empty_range_still_checks_the_blob(s3: S3BlobStore) -> None:
    digest = put(s3, b"0123456789")
    assert read_all(s3, digest, 5, 5) == b""
    assert read_all(s3, digest, 20) == b""
    s3.delete(digest)
    with pytest.raises(KeyError):
        s3.read(digest, 5, 5)


# --- the locks -------------------------------------------------------------------------------


def started(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def flock_waiters() -> int:
    """Processes blocked in flock, system-wide (``/proc/locks`` marks waiters with ->)."""
    return sum("->" in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_publish_waits_for_a_conditional_delete_holding_the_digest(
    s3: S3BlobStore,
) -> None:
    digest = sha(b"contested")
    staged = s3.stage()
    staged.write(b"contested")
    waiters = flock_waiters()
    with s3.locks.hold(digest, exclusive=True):
        publishing = started(lambda: staged.publish(digest))
        wait_until(lambda: flock_waiters() > waiters, "the publish waits for the lock")
        assert not s3.exists(digest)
    publishing.join(WAIT)
    assert not publishing.is_alive()
    assert read_all(s3, digest) == b"contested"


def test_publishes_racing_a_collector_never_lose_their_blob(s3: S3BlobStore) -> None:
    """A collector deleting the digest over and over with a cutoff taken before any of
    these publishes began: each publish that returns has left the blob stored. (Without
    the lock, a delete's HEAD could see the old stamp, a publish refresh the object, and
    the delete then remove it.)"""
    digest = put(s3, b"raced")
    age(s3, digest, 7200)  # the collector's to take, until a publish refreshes it
    cutoff = time.time()
    stop = threading.Event()
    deleted: list[bool] = []

    def collect() -> None:
        while not stop.is_set():
            deleted.append(s3.delete(digest, before=cutoff))

    collector = started(collect)
    try:
        for _ in range(20):
            put(s3, b"raced")
            assert s3.exists(digest)
    finally:
        stop.set()
        collector.join(WAIT)
    assert deleted.count(True) <= 1  # the aged copy at most: never a fresh one
    assert read_all(s3, digest) == b"raced"


def test_shared_file_locks_admit_each_other(tmp_path: Path) -> None:
    locks = FileDigestLocks(tmp_path / "locks")
    digest = sha(b"x")
    with locks.hold(digest, exclusive=False):
        inner = started(lambda: shared_once(locks, digest))
        inner.join(WAIT)
        assert not inner.is_alive()


def shared_once(locks: DigestLocks, digest: str) -> None:
    with locks.hold(digest, exclusive=False):
        pass


@pytest.fixture
def two_engines() -> Iterator[tuple[Engine, Engine]]:
    if "postgresql" not in support.test_databases():
        pytest.skip("advisory locks need PostgreSQL (DATALOFT_TEST_DATABASES leaves it out)")
    with support.postgres_database() as url:
        engines = create_engine(normalise_url(url)), create_engine(normalise_url(url))
        yield engines
        for engine in engines:
            engine.dispose()


def waiting_advisory_locks(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND NOT granted AND classid = :ns"
                ),
                {"ns": NAMESPACE},
            ).scalar_one()
        )


def held_through(
    locks: DigestLocks, digest: str, exclusive: bool
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A thread that takes the lock, says so, and releases it when told."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locks.hold(digest, exclusive=exclusive):
            taken.set()
            release.wait(WAIT)

    return started(hold), taken, release


def test_advisory_locks_exclude_across_connections(two_engines: tuple[Engine, Engine]) -> None:
    first, second = (AdvisoryDigestLocks(engine) for engine in two_engines)
    digest = sha(b"locked")
    writer, written, let_go = held_through(first, digest, exclusive=True)
    assert written.wait(WAIT)
    reader, read, done = held_through(second, digest, exclusive=False)
    wait_until(lambda: waiting_advisory_locks(two_engines[0]) == 1, "the shared hold waits")
    assert not read.is_set()
    let_go.set()
    assert read.wait(WAIT)  # once the exclusive holder let go
    done.set()
    for thread in (writer, reader):
        thread.join(WAIT)
    assert waiting_advisory_locks(two_engines[0]) == 0


def test_advisory_shared_holds_admit_each_other(two_engines: tuple[Engine, Engine]) -> None:
    first, second = (AdvisoryDigestLocks(engine) for engine in two_engines)
    digest = sha(b"shared")
    with first.hold(digest, exclusive=False), second.hold(digest, exclusive=False):
        pass  # neither waited for the other
    other = sha(b"another digest entirely")
    assert digest_key(other) != digest_key(digest)
    with first.hold(digest, exclusive=True), second.hold(other, exclusive=True):
        pass  # different digests, different locks


def test_advisory_locks_never_meet_the_migration_lock(
    two_engines: tuple[Engine, Engine],
) -> None:
    """The migration lock is one bigint; ours are two int4s, a key space of their own."""
    with two_engines[0].connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        try:
            locks = AdvisoryDigestLocks(two_engines[1])
            for digest in (sha(b"a"), "0" * 64, "f" * 64):
                with locks.hold(digest, exclusive=True):
                    pass
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})


def test_digest_keys_are_signed_int4() -> None:
    assert digest_key("0" * 64) == 0
    assert digest_key("7fffffff" + "0" * 56) == 2**31 - 1
    assert digest_key("80000000" + "0" * 56) == -(2**31)
    assert digest_key("f" * 64) == -1


def test_advisory_locks_need_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        AdvisoryDigestLocks(create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}"))


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["s3://bucket", "s3://bucket/", "s3://my.bucket-1/a/b/c", "s3://abc/pre_fix/x.y"]
)
def test_good_s3_urls(url: str) -> None:
    assert check_blob_url(url).scheme == "s3"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "needs a bucket"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://Bucket/x", "not a valid S3 bucket name 'Bucket'"),
        ("s3://ab/x", "not a valid S3 bucket name 'ab'"),
        ("s3://" + "b" * 64, "not a valid S3 bucket name"),
        ("s3://bad_bucket", "not a valid S3 bucket name"),
        ("s3://-bucket", "not a valid S3 bucket name"),
        ("s3://bucket-", "not a valid S3 bucket name"),
        ("s3://my..bucket", "not a valid S3 bucket name"),
        ("s3://192.168.1.10", "not a valid S3 bucket name"),
        ("s3://user:secret@bucket/x", "a bucket and a key prefix only"),
        ("s3://bucket:9000/x", "a bucket and a key prefix only"),
        ("s3://bucket/x?versionId=1", "a bucket and a key prefix only"),
        ("s3://bucket/a//b", "not a usable S3 key prefix"),
        ("s3://bucket/a/../b", "not a usable S3 key prefix"),
        ("s3://bucket/a b", "not a usable S3 key prefix"),
    ],
)
def test_bad_s3_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(BlobConfigError, match=message.replace(".", r"\.").replace("?", r"\?")):
        check_blob_url(url)


def test_open_s3_url(s3_server: MotoServer, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    options = S3Options(endpoint_url=s3_server.url, region=REGION)
    with aws_environment():  # credentials found as in production
        store = open_blob_store(
            f"s3://{bucket}/some/prefix", locks=FileDigestLocks(tmp_path), s3=options
        )
        assert isinstance(store, S3BlobStore)
        digest = put(store, b"opened")
    assert (
        s3_server.client()
        .get_object(Bucket=bucket, Key=f"some/prefix/{digest[:2]}/{digest[2:4]}/{digest}")["Body"]
        .read()
        == b"opened"
    )


def test_an_s3_store_needs_locks() -> None:
    with pytest.raises(ValueError, match="digest locks"):
        open_blob_store("s3://bucket/prefix")


def test_locks_take_a_non_digest(tmp_path: Path) -> None:
    shared_once(FileDigestLocks(tmp_path), "")  # not a digest: any stripe will do


def test_check_fails_once_the_bucket_is_gone(s3: S3BlobStore) -> None:
    """The readiness probe's question: a bucket that no longer answers is an error."""
    s3.check()
    s3.client.delete_bucket(Bucket=s3.bucket)
    with pytest.raises(ClientError):
        s3.check()
