"""``python -m tests.debug_server <settings JSON> <port>``: the real application under
uvicorn, in a process of its own, with asyncio's debug mode on. It logs on stderr every
callback that holds the event loop ("Executing <Handle ...> took 0.123 seconds"):
one that spends 50 ms of the loop thread's CPU time, or one that takes 500 ms by the wall
clock (a blocking call: a wait spends no CPU). On an empty database it first creates the
admin account, as ``dataloft serve`` does. Tests start it with
``tests.support.ServerProcess``.

Why CPU time, not asyncio's own wall-clock measure alone: on a busy 2-core machine the
loop thread is often descheduled, or waits for the interpreter lock behind the server's
worker threads, in the middle of a short callback, and that wait is not work done on the
loop. How long the loop takes to answer, waits included, is what the tests' probes
measure end to end.

A process of its own, not a thread of the test's: the interpreter lock of the process that
serves must be contended by the server's own work only, as in production; and it can run
in a mount namespace of its own (``tests/full_disk.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time

import uvicorn
from fastapi import FastAPI

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft

SLOW_CALLBACK_CPU_SECONDS = 0.05
BLOCKING_CALLBACK_SECONDS = 0.5


def _measure_callbacks_in_cpu_time() -> None:
    """Log every callback that spends ``SLOW_CALLBACK_CPU_SECONDS`` of its thread's CPU
    time. Every callback the loop runs (task steps, I/O, timers) passes through
    ``Handle._run``."""
    run = asyncio.events.Handle._run
    log = logging.getLogger("asyncio")

    def timed_run(handle: asyncio.Handle) -> None:
        started = time.thread_time()
        run(handle)
        took = time.thread_time() - started
        if took >= SLOW_CALLBACK_CPU_SECONDS:
            log.warning("Executing %r took %.3f seconds", handle, took)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]


async def serve(app: FastAPI, port: int) -> None:
    asyncio.get_running_loop().slow_callback_duration = BLOCKING_CALLBACK_SECONDS
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    await uvicorn.Server(config).serve()


def main() -> None:
    # Each line starts with its wall-clock time, so the test can tell which load it was in.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(created).6f %(message)s"
    )
    # Python settles on its temporary directory when first asked, passing over one that
    # is full at that moment: settle it now, while the disk a test fills has room.
    tempfile.gettempdir()
    settings = Settings(**json.loads(sys.argv[1]))
    with Loft(settings) as loft:
        loft.bootstrap_admin()
    # Built before the loop runs: start-up (migrations, ...) is not what is measured.
    app = create_app(settings)
    _measure_callbacks_in_cpu_time()
    asyncio.run(serve(app, int(sys.argv[2])), debug=True)


if __name__ == "__main__":
    main()
