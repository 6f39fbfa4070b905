"""dataloft's app for ASGI servers other than the one ``dataloft serve`` runs: ``create``
builds it from the ``DATALOFT_*`` environment (the data directory in ``DATALOFT_DATA_DIR``),
as a server that imports an application factory by name calls it
(``uvicorn --factory loft_app:create``, ``granian --factory``, ``hypercorn 'loft_app:create()'``).

Like ``dataloft serve`` it first creates the admin account (password from
``DATALOFT_ADMIN_PASSWORD``), so the benchmarks can log in as they do against the real server.
"""

from __future__ import annotations

from fastapi import FastAPI

from dataloft.api.app import create_app
from dataloft.config import load_settings
from dataloft.core.loft import Loft


def create() -> FastAPI:
    settings = load_settings()
    with Loft(settings) as loft:
        loft.bootstrap_admin()
    return create_app(settings)
