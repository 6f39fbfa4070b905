"""``python -m tests.debug_server <settings JSON> <port>``: the real application under
uvicorn, in a process of its own, with asyncio's debug mode on and
``slow_callback_duration`` at 50 ms, so that asyncio logs every callback that holds the
event loop longer ("Executing <Handle ...> took 0.123 seconds") on stderr. On an empty
database it first creates the admin account, as ``dataloft serve`` does. Tests start it with
``tests.support.ServerProcess``.

A process of its own, not a thread of the test's: the interpreter lock of the process that
serves must be contended by the server's own work only, as in production; and it can run
in a mount namespace of its own (``tests/full_disk.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile

import uvicorn
from fastapi import FastAPI

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.loft import Loft

SLOW_CALLBACK_SECONDS = 0.05


async def serve(app: FastAPI, port: int) -> None:
    asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK_SECONDS
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
    asyncio.run(serve(app, int(sys.argv[2])), debug=True)


if __name__ == "__main__":
    main()
