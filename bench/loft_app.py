"""dataloft's app for ASGI servers other than the one ``dataloft serve`` runs: ``create``
builds it from the ``DATALOFT_*`` environment (the data directory in ``DATALOFT_DATA_DIR``),
as a server that imports an application factory by name calls it
(``uvicorn --factory loft_app:create``, ``granian --factory``, ``hypercorn 'loft_app:create()'``).

Like ``dataloft serve`` it first creates the admin account (password from
``DATALOFT_ADMIN_PASSWORD``), so the benchmarks can log in as they do against the real server.

``BENCH_SWITCH_INTERVAL`` (seconds), when set, replaces the interpreter's switch interval
once the app has started, after dataloft's own ``tune_for_serving`` set it: what that
setting costs a server is then measured by running with and without it.
"""

from __future__ import annotations

import os
import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.app import create_app
from dataloft.config import load_settings
from dataloft.core.loft import Loft


class SwitchInterval:
    """Sets ``sys.setswitchinterval(interval)`` when the app reports its startup done."""

    def __init__(self, app: ASGIApp, interval: float) -> None:
        self.app = app
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def after_startup(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                sys.setswitchinterval(self.interval)
            await send(message)

        await self.app(scope, receive, after_startup)


def create() -> ASGIApp:
    settings = load_settings()
    with Loft(settings) as loft:
        loft.bootstrap_admin()
    app = create_app(settings)
    interval = os.environ.get("BENCH_SWITCH_INTERVAL")
    return app if interval is None else SwitchInterval(app, float(interval))
