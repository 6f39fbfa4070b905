"""Work on many items in a few threads: hashing files, uploading blobs, downloading files.

Each is mostly waiting (on the disk, on the network) or in code that releases the
interpreter lock (``hashlib``, reads and writes), so threads share one process's client
and index, and run truly at once where it matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Items in flight per thread: enough that no thread waits for the next, few enough that a
# million items cost no more memory than a hundred.
AHEAD = 4


def in_parallel(
    function: Callable[[T], R], items: Iterable[T], threads: int, name: str
) -> Iterator[R]:
    """``function(item)`` for each item, in ``threads`` threads named ``name``: each result
    as it is done (not in the items' order), items started in their order. An error ends
    it, raised here: items not started by then are never started."""
    with ThreadPoolExecutor(threads, thread_name_prefix=name) as pool:
        pending: set[Future[R]] = set()
        try:
            for item in items:
                pending.add(pool.submit(function, item))
                if len(pending) >= threads * AHEAD:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        finally:
            for future in pending:
                future.cancel()
