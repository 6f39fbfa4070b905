"""Record attachments in the core, on the real database and blob store: commits check and
claim them, they count as content when deciding whether a write changes anything, they
keep their blobs from garbage collection for as long as any version links them, and
``AttachmentService`` serves them only through records the caller may read."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from dataloft.core.access import ANONYMOUS, SYSTEM, Principal
from dataloft.core.changes import PutRecord
from dataloft.core.errors import MissingBlobs, NotFound
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.types import utcnow
from tests.support import unique

Owner = tuple[Principal, str]


@pytest.fixture
def owner(loft: Loft) -> Owner:
    username, password = unique("owner"), "password-" + unique()
    loft.accounts.create_user(SYSTEM, username, password)
    return loft.auth.authenticate_password(username, password), username


@pytest.fixture
def make_dataset(loft: Loft, owner: Owner) -> Callable[..., str]:
    def made(visibility: str = "public") -> str:
        name = unique("ds")
        loft.datasets.create(owner[0], owner[1], name, visibility=visibility)
        return name

    return made


def fresh(size: int = 100) -> tuple[bytes, str]:
    data = unique().encode() + os.urandom(size)
    return data, hashlib.sha256(data).hexdigest()


def backdate_file(loft: Loft, digest: str) -> None:
    """Garbage collection spares files published within its grace period."""
    path = loft.store.local_path(digest)
    if path is not None:
        past = time.time() - 3600
        os.utime(path, (past, past))


def test_a_missing_attachment_fails_the_commit_and_names_it(
    loft: Loft, owner: Owner, make_dataset: Callable[..., str]
) -> None:
    name = make_dataset()
    have, have_digest = fresh()
    loft.blobs.save(owner[0], loft.blobs.from_bytes(have))
    _, lack_one = fresh()
    _, lack_two = fresh()
    changes = [
        PutRecord("a", 1, attachments=(have_digest, lack_two)),
        PutRecord("b", 2, attachments=(lack_one, lack_two)),
    ]
    with pytest.raises(MissingBlobs) as raised:
        loft.commits.commit(owner[0], owner[1], name, changes)
    assert raised.value.digests == [lack_two, lack_one]
    assert loft.datasets.get(owner[0], owner[1], name).version == 0


def test_uploads_with_the_commit_satisfy_its_attachments(
    loft: Loft, owner: Owner, make_dataset: Callable[..., str]
) -> None:
    name = make_dataset()
    data, digest = fresh(10_000)
    upload = loft.blobs.from_bytes(data)  # stored, but no row until the commit registers it
    result = loft.commits.commit(
        owner[0], owner[1], name, [PutRecord("r", "v", attachments=(digest,))], uploads=[upload]
    )
    assert result.outcomes == ["added"]
    assert loft.attachments.get(ANONYMOUS, digest).blob.size == len(data)


def test_attachments_are_part_of_a_records_content(
    loft: Loft, owner: Owner, make_dataset: Callable[..., str]
) -> None:
    name = make_dataset()
    one, one_digest = fresh()
    two, two_digest = fresh()
    for data in (one, two):
        loft.blobs.save(owner[0], loft.blobs.from_bytes(data))

    def write(*attachments: str) -> str:
        change = PutRecord("r", {"same": "value"}, attachments=attachments)
        return loft.commits.commit(owner[0], owner[1], name, [change]).outcomes[0]

    assert write(one_digest) == "added"
    assert write(one_digest, one_digest) == "unchanged"  # named twice is still one
    assert write(one_digest, two_digest) == "changed"
    assert write(two_digest, one_digest) == "unchanged"  # a set: order does not matter
    assert write() == "changed"
    assert write() == "unchanged"


def test_any_version_linking_a_blob_keeps_it_until_purged(
    loft: Loft, owner: Owner, make_dataset: Callable[..., str]
) -> None:
    name = make_dataset()
    data, digest = fresh(10_000)
    upload = loft.blobs.from_bytes(data)
    first = PutRecord("r", "linked", attachments=(digest,))
    loft.commits.commit(owner[0], owner[1], name, [first], uploads=[upload])
    loft.commits.commit(owner[0], owner[1], name, [PutRecord("r", "not any more")])
    backdate_file(loft, digest)
    loft.blobs.collect_garbage(0)
    assert loft.store.exists(digest)
    assert loft.attachments.linkers(ANONYMOUS, digest) == []  # not at the head
    at, linked = loft.attachments.of_version(ANONYMOUS, owner[1], name, 1)
    assert at == 1
    assert [ref.digest for ref in linked] == [digest]
    assert list(loft.attachments.of_version(ANONYMOUS, owner[1], name, 2)[1]) == []

    loft.datasets.purge(owner[0], owner[1], name)
    loft.blobs.collect_garbage(0)
    assert not loft.store.exists(digest)
    with pytest.raises(NotFound):
        loft.attachments.get(SYSTEM, digest)


def test_attachments_are_served_only_through_readable_records(
    loft: Loft, owner: Owner, make_dataset: Callable[..., str]
) -> None:
    private = make_dataset("private")
    data, digest = fresh()
    upload = loft.blobs.from_bytes(data)
    change = PutRecord("secret", 1, attachments=(digest,))
    loft.commits.commit(owner[0], owner[1], private, [change], uploads=[upload])
    with pytest.raises(NotFound):
        loft.attachments.get(ANONYMOUS, digest)
    assert loft.attachments.get(owner[0], digest).blob.inline == data
    assert [ln.record_id for ln in loft.attachments.linkers(owner[0], digest)] == ["secret"]
    assert loft.attachments.linkers(ANONYMOUS, digest) == []

    public = make_dataset()
    loft.commits.commit(owner[0], owner[1], public, [PutRecord("open", 2, attachments=(digest,))])
    assert loft.attachments.get(ANONYMOUS, digest).blob.inline == data
    assert [ln.record_id for ln in loft.attachments.linkers(ANONYMOUS, digest)] == ["open"]


def test_claiming_renews_a_blob(loft: Loft) -> None:
    """A commit that links an old, untouched blob renews it: a collection that runs right
    after cannot take it from the commit that has just linked it."""
    data, digest = fresh(10_000)
    loft.blobs.save(SYSTEM, loft.blobs.from_bytes(data))

    def age() -> None:
        with loft.db.write() as session:
            long_ago = utcnow() - timedelta(days=2)
            session.execute(update(Blob).where(Blob.digest == digest).values(touched=long_ago))
        backdate_file(loft, digest)

    age()
    with loft.db.write() as session:
        assert loft.blobs.claim(session, [digest, "0" * 64]) == {digest}
    loft.blobs.collect_garbage(600)
    assert loft.store.exists(digest)  # renewed: spared for the grace period
    age()
    loft.blobs.collect_garbage(600)
    assert not loft.store.exists(digest)  # the same blob, not renewed, is collected
