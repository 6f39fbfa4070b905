"""Worker processes for CPU-bound work that a thread cannot keep off the event loop.

A worker thread shares the interpreter lock with the event loop; pure-Python work in it
lets go of the lock every few milliseconds, but a C function such as ``json.loads`` keeps it
for as long as it runs (half a second for 20 MiB). Such work runs here instead, in
``settings.worker_processes`` processes started on first use (spawned, not forked: the
server's process has threads). What goes in and comes out is pickled, and pickling holds
the lock too (70 ms for 20 MiB of bytes), so a large input travels as a file
(``run_on_file``) and results are a few flat buffers (see ``api/pigeon/bodies.py``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from dataloft.api.threads import in_thread
from dataloft.core.errors import ServerFault, space_checked

T = TypeVar("T")
P = ParamSpec("P")


TEMPORARY_SPACE = "temporary space"  # what a full TMPDIR is called in its StorageFull message

# Workers yield the CPU to the serving process: on a busy machine a request waiting for an
# answer matters more than a bulk write's decoding finishing a little sooner.
WORKER_NICENESS = 10


def _spill(data: bytes) -> Path:
    """``data`` in a new file of the temporary directory. One that has no room for it is
    ``StorageFull``, with nothing left behind."""
    with space_checked(TEMPORARY_SPACE):
        fd, name = tempfile.mkstemp(prefix="dataloft-input-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as spool:
                spool.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path


class ProcessPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(
                    self.size, mp_context=context, initializer=os.nice, initargs=(WORKER_NICENESS,)
                )
            return self._executor

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` in a worker process. Its exceptions reach the
        caller as they were raised (domain errors with a message only)."""
        # The first submit starts the worker processes, and every submit may start one that
        # died: seconds of work that must not happen on the event loop.
        pool = await in_thread(self._pool)
        try:
            future = await in_thread(pool.submit, partial(function, *args, **kwargs))
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start afresh next time.
            with self._lock:
                if self._executor is pool:
                    self._executor = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise ServerFault("a worker process died while handling the request") from None

    async def run_on_file(
        self, function: Callable[..., T], data: bytes, *args: Any, **kwargs: Any
    ) -> T:
        """``function(path, *args, **kwargs)`` in a worker process, ``path`` a file holding
        ``data``: written and removed in the threadpool, never pickled."""
        path = await in_thread(_spill, data)
        try:
            return await self.run(function, str(path), *args, **kwargs)
        finally:
            await in_thread(path.unlink, missing_ok=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
