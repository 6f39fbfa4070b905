"""Making a dataset: a name, a description and who may see it; then its upload page.

Datasets are made for the one signed in (the core's rule: only site admins make them for
others; a team's datasets live in its projects, set in a dataset's settings)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Conflict, Invalid
from dataloft.web.render import dataset_url, page
from dataloft.web.session import form, sign_in_first

NEW_PATH = "/ui/-/new"


def new_page(call: Call, fields: dict[str, str] | None = None, error: str = "") -> Response:
    away = sign_in_first(call, NEW_PATH)
    if away is not None:
        return away
    status = 200 if not error else 400
    return page(call, "new.html", {"fields": fields or {}, "error": error}, status)


def create(call: Call) -> Response:
    away = sign_in_first(call, NEW_PATH)
    if away is not None:
        return away
    fields = form(call)
    owner = call.actor.username or ""
    name = fields.get("name", "").strip()
    try:
        call.loft.datasets.create(
            call.actor,
            owner,
            name,
            description=fields.get("description", ""),
            visibility=fields.get("visibility", "private"),
        )
    except (Invalid, Conflict) as refused:  # said on the form, with what was typed
        return new_page(call, fields, refused.message)
    return RedirectResponse(dataset_url(owner, name, "upload"), status_code=303)


ROUTES: Routes = {NEW_PATH: {"GET": new_page, "POST": create}}
