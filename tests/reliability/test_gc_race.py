"""Garbage collection racing an upload of the same bytes, in the exact racy orders.

The collector deletes a blob's row, commits, and only then deletes the stored file. An
upload of the same bytes in that gap finds the file, keeps it, and registers a new row;
the file must then survive. The interleavings are driven step by step with the real
components: ``collect_garbage``'s ``between_phases`` seam runs the upload after the rows
are gone, and the local store's conditional delete is split into its steps (``take``,
then ``discard_unless_fresh``) to put a publish between them.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.types import utcnow
from dataloft.storage.local import LocalBlobStore
from tests.conftest import User

GRACE = 3600.0
TWO_DAYS = 2 * 86400.0


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def age_file(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def put(store: LocalBlobStore, data: bytes) -> str:
    staged = store.stage()
    staged.write(data)
    staged.publish(sha(data))
    return sha(data)


def trash_entries(store: LocalBlobStore) -> list[Path]:
    return sorted(store.trash_dir.iterdir())


# --- through BlobService and the database ----------------------------------------------------


def test_upload_between_row_and_file_deletion_keeps_the_bytes(
    loft: Loft, settings: Settings, alice: User, dataset: str
) -> None:
    # A stored (not inline) blob that nothing references and nobody touched for two days.
    data = os.urandom(settings.inline_blob_limit + 1000)
    digest = sha(data)
    uploader = loft.auth.authenticate_token(alice.token)  # alice commits it below
    assert loft.blobs.save(uploader, loft.blobs.from_bytes(data))
    with loft.db.write() as session:
        session.execute(
            update(Blob)
            .where(Blob.digest == digest)
            .values(touched=utcnow() - timedelta(seconds=TWO_DAYS))
        )
    path = loft.blobs.store.local_path(digest)
    assert path is not None
    age_file(path, TWO_DAYS)

    uploaded: list[bool] = []

    def upload_the_same_bytes() -> None:
        # The row is gone (committed), the file is still there: the racy moment.
        assert not loft.blobs.has(SYSTEM, digest)
        assert path.exists()
        uploaded.append(loft.blobs.save(uploader, loft.blobs.from_bytes(data)))

    report = loft.blobs.collect_garbage(GRACE, between_phases=upload_the_same_bytes)
    assert uploaded == [True]  # the upload registered a new row...
    assert report.blobs_removed >= 1
    assert loft.blobs.has(SYSTEM, digest)
    assert path.read_bytes() == data  # ...and its bytes are still stored

    # A commit may reference the blob, and the bytes are served.
    committed = alice.client.post(
        f"{dataset}/commits",
        json={"changes": [{"op": "put_file", "path": "raced.bin", "sha256": digest}]},
    )
    assert committed.status_code == 201, committed.text
    served = alice.client.get(f"{dataset}/files/raced.bin")
    assert served.status_code == 200, served.text
    assert served.content == data

    # A later collection keeps it too: it is referenced now.
    loft.blobs.collect_garbage(GRACE, scan_store=True)
    assert alice.client.get(f"{dataset}/files/raced.bin").content == data


def test_upload_that_never_commits_is_collected_later(loft: Loft, settings: Settings) -> None:
    """The file kept for the racing upload is not kept forever: once its row ages past the
    grace period (the upload never committed), the next collection removes both."""
    data = os.urandom(settings.inline_blob_limit + 1000)
    digest = sha(data)
    assert loft.blobs.save(SYSTEM, loft.blobs.from_bytes(data))

    def backdate() -> None:
        with loft.db.write() as session:
            session.execute(
                update(Blob)
                .where(Blob.digest == digest)
                .values(touched=utcnow() - timedelta(seconds=TWO_DAYS))
            )
        path = loft.blobs.store.local_path(digest)
        assert path is not None
        age_file(path, TWO_DAYS)

    def reupload() -> None:
        loft.blobs.save(SYSTEM, loft.blobs.from_bytes(data))

    backdate()
    loft.blobs.collect_garbage(GRACE, between_phases=reupload)
    assert loft.blobs.store.exists(digest)
    backdate()
    loft.blobs.collect_garbage(GRACE)
    assert not loft.blobs.has(SYSTEM, digest)
    assert not loft.blobs.store.exists(digest)


# --- inside the local store's conditional delete ---------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


DATA = os.urandom(10_000)


def test_publish_while_the_file_is_in_the_trash_writes_its_own_copy(
    store: LocalBlobStore,
) -> None:
    digest = put(store, DATA)
    age_file(store.path_of(digest), TWO_DAYS)
    cutoff = time.time() - GRACE

    trash = store.take(digest)  # D1: the collector took the name away
    assert trash is not None
    assert not store.exists(digest)
    put(store, DATA)  # the upload finds no file: it links its own, freshly stamped copy
    assert store.discard_unless_fresh(trash, cutoff)  # D2/D3: the old copy goes

    assert store.path_of(digest).read_bytes() == DATA
    assert store.modified(digest) > cutoff
    assert trash_entries(store) == []
    assert not store.delete(digest, before=cutoff)  # and a collector still keeps it
    assert store.exists(digest)


def test_publish_before_the_take_is_seen_and_the_file_put_back(store: LocalBlobStore) -> None:
    digest = put(store, DATA)
    age_file(store.path_of(digest), TWO_DAYS)
    cutoff = time.time() - GRACE

    put(store, DATA)  # P1: the upload refreshed the stored copy
    trash = store.take(digest)
    assert trash is not None
    assert not store.discard_unless_fresh(trash, cutoff)  # fresh: put back

    assert store.path_of(digest).read_bytes() == DATA
    assert trash_entries(store) == []


def test_put_back_yields_to_a_copy_published_meanwhile(store: LocalBlobStore) -> None:
    digest = put(store, DATA)
    age_file(store.path_of(digest), TWO_DAYS)
    cutoff = time.time() - GRACE

    put(store, DATA)  # one upload refreshes the stored copy...
    trash = store.take(digest)
    assert trash is not None
    put(store, DATA)  # ...another finds the name gone and links its own copy
    own = store.path_of(digest).stat().st_ino
    assert not store.discard_unless_fresh(trash, cutoff)

    assert store.path_of(digest).stat().st_ino == own  # the later copy stays
    assert store.path_of(digest).read_bytes() == DATA
    assert trash_entries(store) == []


def test_old_unpublished_blob_is_deleted(store: LocalBlobStore) -> None:
    digest = put(store, DATA)
    age_file(store.path_of(digest), TWO_DAYS)
    assert store.delete(digest, before=time.time() - GRACE)
    assert not store.exists(digest)
    assert trash_entries(store) == []


def test_a_crashed_delete_is_undone_when_the_store_opens(store: LocalBlobStore) -> None:
    digest = put(store, DATA)
    trash = store.take(digest)  # and then the collector dies
    assert trash is not None
    assert not store.exists(digest)

    LocalBlobStore(store.root)  # a young trash entry may be a delete in progress: left alone
    assert not store.exists(digest)
    stale = trash.with_name(f"{digest}.{time.time_ns() - 3600 * 10**9}.0badc0de")
    trash.rename(stale)
    reopened = LocalBlobStore(store.root)
    assert reopened.path_of(digest).read_bytes() == DATA
    assert trash_entries(reopened) == []


def test_scan_puts_back_crashed_deletes(store: LocalBlobStore) -> None:
    digest = put(store, DATA)
    trash = store.take(digest)
    assert trash is not None
    trash.rename(trash.with_name(f"{digest}.{time.time_ns() - 3600 * 10**9}.0badc0de"))
    store.clean_staging(older_than_seconds=GRACE)
    assert store.path_of(digest).read_bytes() == DATA
    assert trash_entries(store) == []
