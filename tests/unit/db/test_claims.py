"""Claims on background work (``db/claims.py``): one holder at a time among threads,
``Database``s and processes; a waiting claim queues; a killed holder's claim is free."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from dataloft.core.loft import Loft
from dataloft.db import Database
from dataloft.db.claims import Claims
from tests.support import ROOT, unique

DEADLINE = 20.0
# A process that takes a claim, says so, and holds it until it is killed.
HOLDER = """
import sys, threading
from dataloft.db import Database
from dataloft.db.claims import Claims
with Claims(Database(sys.argv[1], pool_size=1)).hold(sys.argv[2]) as held:
    print("held" if held else "refused", flush=True)
    threading.Event().wait()
"""


@pytest.fixture
def two(database_url: str, loft: Loft) -> Iterator[tuple[Claims, Claims]]:
    """Claims of two ``Database``s on the session's database (made by ``loft``): two
    processes' worth."""
    first, second = Database(database_url, pool_size=2), Database(database_url, pool_size=2)
    try:
        yield Claims(first), Claims(second)
    finally:
        first.dispose()
        second.dispose()


def test_one_holder_at_a_time(two: tuple[Claims, Claims]) -> None:
    a, b = two
    job, other = unique("job:"), unique("job:")
    with a.hold(job) as held:
        assert held
        with b.hold(job) as again:
            assert not again
        with a.hold(job) as same_process:  # another thread's worth, in one process
            assert not same_process
        with b.hold(other) as different:
            assert different
    with b.hold(job) as after:
        assert after


def test_a_waiting_claim_queues_behind_the_holder(two: tuple[Claims, Claims]) -> None:
    a, b = two
    job = unique("job:")
    order: list[str] = []
    taken = threading.Event()

    def waiter() -> None:
        taken.wait(DEADLINE)
        with b.hold(job, wait=True) as held:
            assert held
            order.append("waiter")

    thread = threading.Thread(target=waiter)
    with a.hold(job) as held:
        assert held
        thread.start()
        taken.set()
        # The waiter cannot get in while we hold it: check it is still out after it had
        # every chance to try (it is blocked in its lock request, not sleeping).
        thread.join(timeout=0.5)
        assert thread.is_alive() and order == []
        order.append("holder")
    thread.join(DEADLINE)
    assert order == ["holder", "waiter"]


def test_a_killed_holder_s_claim_is_released(database_url: str, two: tuple[Claims, Claims]) -> None:
    a, _ = two
    job = unique("job:")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url, job],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with a.hold(job) as held:
            assert not held
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    deadline = time.monotonic() + DEADLINE
    while True:
        with a.hold(job) as held:
            if held:
                break
        assert time.monotonic() < deadline, "the dead holder's claim was never released"
        time.sleep(0.05)
