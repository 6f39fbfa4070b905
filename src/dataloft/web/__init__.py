"""The web UI: server-rendered pages over the same core services as the APIs, at ``/ui/``
(``/`` leads there).

Its requests take the same pipeline as every dialect's (``api/pipeline.py``): each page
is a handler run in the threadpool, the caller is the session's user (``session.py``),
and a core error becomes this UI's error page with the status the one error table gives
it (``errors.py``): a private dataset is the same "not found" page for a stranger as a
dataset that does not exist.

URLs: ``/ui/OWNER`` and ``/ui/OWNER/NAME`` are people's and datasets' pages, and the views
of a dataset follow ``/-/`` (``/ui/alice/birds/-/tree/2024/may``). The UI's own pages
live under ``/ui/-/`` (``/ui/-/signin``): no owner's name can be ``-``, so neither can
ever hide the other.
"""

from __future__ import annotations

from dataloft.api.front import LoftApp
from dataloft.api.native.tus import TusProtocol
from dataloft.api.pipeline import Pipeline, Routes
from dataloft.api.registry import Dialect
from dataloft.web import (
    accounts,
    create,
    datasets,
    diff,
    events,
    files,
    home,
    settings,
    static,
    teams,
    tokens,
    uploads,
    users,
)
from dataloft.web.errors import render_error
from dataloft.web.session import authenticate

ROUTES: Routes = {
    **home.ROUTES,
    **accounts.ROUTES,
    **create.ROUTES,
    **tokens.ROUTES,
    # Before the datasets' ``/ui/{owner}/{name}``, which ``/ui/-/teams`` would match too.
    **teams.ROUTES,
    **users.ROUTES,
    **static.ROUTES,
    **uploads.ROUTES,
    **datasets.ROUTES,
    **files.ROUTES,
    **diff.ROUTES,
    **settings.ROUTES,
    **events.ROUTES,
}


def mount(app: LoftApp) -> None:
    routes = Pipeline(app, DIALECT)
    for path, handlers in ROUTES.items():
        routes.add(path, handlers)
    # The page's uploads speak tus, as the native API's do (``uploads.py``).
    app.add_edge(TusProtocol, render=render_error, collection=uploads.COLLECTION)


DIALECT = Dialect(
    name="web",
    prefixes=("/ui/",),
    mount=mount,
    render_error=render_error,
    authenticate=authenticate,
)
