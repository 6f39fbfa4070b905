"""The interactive API documentation, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served
whole from this server.

FastAPI's own pages load their scripts and styles from a CDN (and ReDoc its fonts from
Google): on a machine without internet, or behind a proxy that blocks those hosts, they
are blank. The ``fastapi-offline`` package ships the same files (``swagger-ui-bundle.js``,
``swagger-ui.css``, ``redoc.standalone.js``, a favicon; see docs/third-party.md for their
versions and licences); they are served from ``/docs/assets/`` and the pages name nothing
else, so the documentation works wherever the API does.

Every response carries ``nosniff``, so the assets go out with their real types
(``StaticFiles`` names them from the extension: JavaScript, CSS, PNG). The two pages carry
a Content-Security-Policy (``DOCS_POLICY``) that lets them load and connect to this origin
only: nothing the documentation shows can make a browser fetch from elsewhere. It allows
what the two bundles need: their inline start-up script and styles, ``data:`` images, and
ReDoc's search worker (a ``blob:``). ReDoc's footer logo, which it takes from its vendor's
site, is refused by it.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
ASSETS_URL = "/docs/assets"
SWAGGER_UI = "/docs"
REDOC = "/redoc"


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


def mount_docs(app: FastAPI) -> None:
    """``/docs``, ``/redoc`` and their assets (the app is made with ``docs_url=None`` and
    ``redoc_url=None``, so FastAPI adds no pages of its own)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"

    def schema_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        return _confined(
            get_swagger_ui_html(
                openapi_url=schema_url(request),
                title=f"{app.title} - Swagger UI",
                swagger_js_url=asset(request, "swagger-ui-bundle.js"),
                swagger_css_url=asset(request, "swagger-ui.css"),
                swagger_favicon_url=asset(request, "favicon.png"),
                # The Bearer token typed into "Authorize" survives a page reload.
                swagger_ui_parameters={"persistAuthorization": True},
            )
        )

    async def redoc(request: Request) -> HTMLResponse:
        return _confined(
            get_redoc_html(
                openapi_url=schema_url(request),
                title=f"{app.title} - ReDoc",
                redoc_js_url=asset(request, "redoc.standalone.js"),
                redoc_favicon_url=asset(request, "favicon.png"),
                with_google_fonts=False,
            )
        )

    app.add_route(SWAGGER_UI, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_route(REDOC, redoc, methods=["GET"], include_in_schema=False)
