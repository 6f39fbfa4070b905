"""Garbage collection during a stream of uploads deletes nothing still referenced.

Writers upload blobs and commit them, some through ``PUT /blobs`` then a commit naming the
digest, some as single-file writes, each round's bytes new. A purger keeps uploading the
bytes of the rounds to come (and some of its own) into datasets it then purges, so the
collector keeps taking blobs whose bytes a writer is about to publish or is publishing
again. The collector runs back to back with no grace period, the harshest setting: then
even a writer's own upload may go before its commit names it (the commit is refused, 400,
and the writer uploads again), or while it is being saved (409: send it again), as a
client retries. Then every version each writer was told about reads back whole, and
``fsck`` finds every referenced blob present and sound.

It runs on each configuration of the functional suite: SQLite and PostgreSQL with files,
and PostgreSQL with S3, whose publish and conditional delete meet in the digest locks.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

import httpx

from dataloft.core.fsck import Fsck
from dataloft.core.loft import Loft
from tests.conftest import User
from tests.support import unique

WRITERS = 3
ROUNDS = 12
GRACE = 0.0
AHEAD = 3  # rounds whose bytes the purger uploads before the writers reach them


def item(round_: int, writer: int) -> bytes:
    """A writer's bytes in a round: two writers share them, past the inline limit (4 KiB,
    so every blob is in the store), new to this test run."""
    seed = f"{RUN}:{round_}:{writer % 2}".encode()
    return hashlib.sha256(seed).digest() * 200


RUN = os.urandom(8).hex()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commit_by_digest(client: httpx.Client, dataset: str, path: str, data: bytes) -> int:
    """Upload, then commit naming the digest: the window a collector may fall into. A
    commit refused for a digest the collector took meanwhile (400) uploads again, as a
    client does; the version it finally made."""
    for _ in range(20):
        uploaded = client.put(f"/blobs/{sha(data)}", content=data)
        if uploaded.status_code == 409:
            continue  # taken while it was saved: send it again
        assert uploaded.status_code in (200, 201), uploaded.text
        change = {"op": "put_file", "path": path, "sha256": sha(data)}
        made = client.post(f"{dataset}/commits", json={"changes": [change]})
        if made.status_code == 201:
            return int(made.json()["version"]["number"])
        assert made.status_code == 400 and sha(data) in made.text, made.text
    raise AssertionError(f"{path}: the collector took the blob 20 times over")


def write_directly(client: httpx.Client, dataset: str, path: str, data: bytes) -> int:
    for _ in range(20):
        made = client.put(f"{dataset}/files/{path}", content=data)
        if made.status_code != 409:
            assert made.status_code in (200, 201), made.text
            return int(made.headers["X-Loft-Version"])
    raise AssertionError(f"{path}: the collector took the blob 20 times over")


def test_gc_during_uploads_deletes_nothing_referenced(
    loft: Loft, alice: User, make_user: Callable[..., User]
) -> None:
    datasets = []
    for _ in range(WRITERS):
        name = unique("gc")
        assert alice.client.post("/datasets", json={"name": name}).status_code == 201
        datasets.append(f"/datasets/{alice.username}/{name}")
    purger = make_user("purger")
    done = threading.Event()
    failures: list[BaseException] = []
    # What each writer was told: (dataset, version, path, bytes).
    acknowledged: list[tuple[str, int, str, bytes]] = []
    lock = threading.Lock()

    reached = [0] * WRITERS  # the round each writer is at

    def writer(number: int) -> None:
        dataset = datasets[number]
        try:
            for round_ in range(ROUNDS):
                reached[number] = round_
                data = item(round_, number)
                path = f"r{round_}.bin"
                send = commit_by_digest if round_ % 2 == 0 else write_directly
                version = send(alice.client, dataset, path, data)
                with lock:
                    acknowledged.append((dataset, version, path, data))
        except BaseException as error:
            failures.append(error)

    def purge() -> None:
        try:
            while not done.is_set():
                name = unique("doomed")
                made = purger.client.post("/datasets", json={"name": name})
                assert made.status_code == 201, made.text
                doomed = f"/datasets/{purger.username}/{name}"
                first = min(reached)
                coming = [item(r, w) for r in range(first, first + AHEAD) for w in (0, 1)]
                garbage = os.urandom(5000)
                for n, data in enumerate([*coming, garbage]):
                    assert purger.client.put(f"{doomed}/files/{n}", content=data).is_success
                gone = purger.client.delete(doomed, params={"purge": "true"})
                assert gone.status_code == 204, gone.text
        except BaseException as error:
            failures.append(error)
            done.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    purging = threading.Thread(target=purge)
    for thread in [*threads, purging]:
        thread.start()
    collections = removed = 0
    deadline = time.monotonic() + 120
    # Until the writers are done, and the collector took something (so it did race them).
    while (any(t.is_alive() for t in threads) or not removed) and not failures:
        assert time.monotonic() < deadline, (collections, removed, reached, len(acknowledged))
        collected = loft.garbage.collect(GRACE)
        assert collected is not None  # nobody else collects here
        collections += 1
        removed += collected.blobs.blobs_removed
    done.set()
    for thread in [*threads, purging]:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(acknowledged) == WRITERS * ROUNDS

    for dataset, version, path, data in acknowledged:
        got = alice.client.get(f"{dataset}/files/{path}", params={"version": version})
        assert got.status_code == 200, (dataset, version, path, got.text)
        assert sha(got.content) == sha(data), (dataset, version, path)
    report = Fsck(loft.db, loft.blobs, grace_seconds=3600).run()
    assert [f for f in report.findings if f.kind != "orphan"] == []
