"""Concurrent writers to one dataset, over HTTP against the real server: every commit gets
its own version, versions are gap-free, nothing written is lost, and ``parent=``
preconditions let exactly one of several racing writers win each version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import User
from tests.support import LiveServer
from tests.support import pages as _pages

pytestmark = pytest.mark.slow  # seconds of real work each: `-m 'not slow'` skips them

WRITERS = 8
COMMITS_PER_WRITER = 50
TOTAL = WRITERS * COMMITS_PER_WRITER
TIMEOUT = httpx.Timeout(60.0)
T = TypeVar("T")


def _client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/loft/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def _check_history(client: httpx.Client, dataset: str, head: int) -> list[dict[str, Any]]:
    """The history is exactly 0..head, newest first, each version's parent the one before."""
    versions = list(_pages(client, f"{dataset}/versions"))
    numbers = [v["number"] for v in versions]
    assert numbers == list(range(head, -1, -1))
    for version in versions:
        expected_parent = None if version["number"] == 0 else version["number"] - 1
        assert version["parent"] == expected_parent, version
    return versions


def _run_all(job: Callable[[int], T], count: int) -> list[T]:
    """``job(0) .. job(count - 1)``, each in its own thread; the first failure is raised."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(job, n) for n in range(count)]
        return [future.result(timeout=300) for future in futures]


def test_concurrent_writers_get_distinct_gap_free_versions(
    server: LiveServer, alice: User, admin: User, dataset: str
) -> None:
    # Half the writers are the owner, half a site admin: two principals, one dataset.
    tokens = [alice.token if w % 2 == 0 else admin.token for w in range(WRITERS)]
    start = threading.Barrier(WRITERS, timeout=60)

    def writer(w: int) -> list[tuple[str, int, str, dict[str, int]]]:
        done: list[tuple[str, int, str, dict[str, int]]] = []
        with _client(server, tokens[w]) as client:
            start.wait()
            for i in range(COMMITS_PER_WRITER):
                record_id = f"w{w}-{i}"
                value = {"writer": w, "i": i}
                response = client.put(f"{dataset}/records/{record_id}", json=value)
                assert response.status_code == 201, response.text
                body = response.json()
                assert body["outcome"] == "added"
                assert response.headers["x-loft-version"] == str(body["version"])
                done.append((record_id, body["version"], body["entry"]["sha256"], value))
        return done

    results = _run_all(writer, WRITERS)
    writes = [write for done in results for write in done]
    assert len(writes) == TOTAL

    reported = [version for _, version, _, _ in writes]
    assert sorted(reported) == list(range(1, TOTAL + 1))

    client = alice.client
    info = client.get(dataset)
    assert info.status_code == 200, info.text
    assert info.json()["version"] == TOTAL
    assert info.json()["record_count"] == TOTAL

    versions = _check_history(client, dataset, TOTAL)
    for row in versions:
        if row["number"] == 0:
            continue
        # One record added per commit: the counts follow the version number exactly.
        assert (row["added"], row["changed"], row["removed"]) == (1, 0, 0), row
        assert row["record_count"] == row["number"], row

    # Each writer's own versions increase: a later write by the same client never lands
    # before an earlier one.
    for done in results:
        own = [version for _, version, _, _ in done]
        assert own == sorted(own)

    listed = {item["path"]: item for item in _pages(client, f"{dataset}/records")}
    assert set(listed) == {record_id for record_id, _, _, _ in writes}
    for record_id, version, sha256, _ in writes:
        assert listed[record_id]["sha256"] == sha256
        assert listed[record_id]["version"] == version

    # The listing's sha256 is the server's own hash of each stored value; reading a sample
    # back checks that those hashes belong to the values that were sent.
    for record_id, version, _, value in writes[:: TOTAL // 16]:
        got = client.get(f"{dataset}/records/{record_id}")
        assert got.status_code == 200, got.text
        assert got.json() == value
        before = client.get(f"{dataset}/records/{record_id}", params={"version": version - 1})
        assert before.status_code == 404, before.text


def test_parent_precondition_lets_exactly_one_racer_win_each_round(
    server: LiveServer, alice: User, admin: User, dataset: str
) -> None:
    racers, rounds = 6, 10
    tokens = [alice.token if r % 2 == 0 else admin.token for r in range(racers)]
    barrier = threading.Barrier(racers, timeout=60)

    def racer(r: int) -> list[tuple[int, int, int, int | None]]:
        """(round, parent seen, status, version) for each attempt."""
        attempts: list[tuple[int, int, int, int | None]] = []
        with _client(server, tokens[r]) as client:
            for n in range(rounds):
                barrier.wait()  # the previous round is over for everyone
                seen = client.get(dataset)
                assert seen.status_code == 200, seen.text
                head = seen.json()["version"]
                barrier.wait()  # everyone has read the same head; now race
                response = client.put(
                    f"{dataset}/records/r{n}-racer{r}",
                    params={"parent": head},
                    json={"round": n, "racer": r},
                )
                assert response.status_code in (201, 412), response.text
                version = response.json()["version"] if response.status_code == 201 else None
                attempts.append((n, head, response.status_code, version))
        return attempts

    results = _run_all(racer, racers)

    winners: dict[int, tuple[int, int]] = {}
    for r, attempts in enumerate(results):
        assert len(attempts) == rounds
        for n, head, status, version in attempts:
            assert head == n, "every racer must see the head left by the previous round"
            if status == 201:
                assert version == head + 1
                assert n not in winners, f"two winners in round {n}"
                winners[n] = (r, version)
    assert sorted(winners) == list(range(rounds)), "a round without a winner"
    assert sorted(v for _, v in winners.values()) == list(range(1, rounds + 1))

    client = alice.client
    info = client.get(dataset)
    assert info.status_code == 200, info.text
    assert info.json()["version"] == rounds
    assert info.json()["record_count"] == rounds
    _check_history(client, dataset, rounds)

    listed = {item["path"]: item["version"] for item in _pages(client, f"{dataset}/records")}
    assert listed == {f"r{n}-racer{r}": version for n, (r, version) in winners.items()}


def test_parent_precondition_retry_loops_lose_no_version(
    server: LiveServer, alice: User, admin: User, dataset: str
) -> None:
    """Free-running optimistic writers: read the head, write with ``parent=``, retry on 412.
    Every success takes the version right after the head it saw, and the successes
    together are exactly 1..N with no version given out twice."""
    racers, wins_each = 5, 6
    tokens = [alice.token if r % 2 == 0 else admin.token for r in range(racers)]
    start = threading.Barrier(racers, timeout=60)

    def racer(r: int) -> tuple[list[tuple[str, int, int]], int]:
        won: list[tuple[str, int, int]] = []
        lost = 0
        with _client(server, tokens[r]) as client:
            start.wait()
            attempt = 0
            while len(won) < wins_each:
                attempt += 1
                assert attempt < 2000, "a racer never gets through"
                head = client.get(dataset).json()["version"]
                record_id = f"racer{r}-try{attempt}"
                response = client.put(
                    f"{dataset}/records/{record_id}", params={"parent": head}, json=attempt
                )
                if response.status_code == 412:
                    lost += 1
                    continue
                assert response.status_code == 201, response.text
                version = response.json()["version"]
                assert version == head + 1
                won.append((record_id, attempt, version))
        return won, lost

    results = _run_all(racer, racers)
    total = racers * wins_each
    wins = [w for won, _ in results for w in won]
    assert sorted(version for _, _, version in wins) == list(range(1, total + 1))

    client = alice.client
    assert client.get(dataset).json()["version"] == total
    _check_history(client, dataset, total)
    listed = {item["path"]: item["version"] for item in _pages(client, f"{dataset}/records")}
    # The losing attempts left nothing behind.
    assert listed == {record_id: version for record_id, _, version in wins}
