"""Running blocking work away from the event loop: the one place that decides how.

Core services block (SQL, file I/O, hashing, decoding). The request pipeline runs whole
handlers in the threadpool; what remains on the event loop (streaming handlers, SSE
feeds, upload pumps) hands each blocking step to ``in_thread``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from prometheus_client import Gauge

T = TypeVar("T")
P = ParamSpec("P")

# Exposed with the other metrics (``api/metrics.py``); here because each call counts.
# "livesum": with several workers, the sum over the workers alive.
IN_THREADS = Gauge(
    "dataloft_threadpool_tasks_in_progress",
    "Blocking steps handed to the worker threads (running, or waiting for a thread)",
    multiprocess_mode="livesum",
)


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking code in the worker thread pool and wait for it."""
    return await in_threads_of(None, partial(function, *args, **kwargs))


async def in_threads_of(limiter: anyio.CapacityLimiter | None, function: Callable[[], T]) -> T:
    """``in_thread``, with at most as many such calls running at once as ``limiter`` has
    tokens (the pool's default limit of 40 when None)."""
    IN_THREADS.inc()
    try:
        return await anyio.to_thread.run_sync(function, limiter=limiter)
    finally:
        IN_THREADS.dec()
