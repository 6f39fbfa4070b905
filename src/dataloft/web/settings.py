"""A dataset's settings, for those who may change it: its description and tags (writers);
its visibility, its name, and deleting it (its admins: the owner, a team's admins, site
admins). Anyone else who may read the dataset is refused (403); anyone who may not is told
it does not exist (404), as everywhere."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.access import Action, require
from dataloft.core.datasets import Located
from dataloft.core.errors import Invalid
from dataloft.web.datasets import dataset_context
from dataloft.web.render import dataset_url, owner_url, page
from dataloft.web.session import form


def settings(call: Call) -> Response:
    context = dataset_context(call, None)
    located: Located = context["located"]
    if not context["writer"]:  # the 403 (or, for a reader's scope, 401) a reader gets
        require(call.actor, Action.WRITE, located.target, f"dataset {located.address}")
    context.update(tab="settings")
    return page(call, "settings.html", context)


def change(call: Call) -> Response:
    """One of the page's forms: ``about`` (description, tags, visibility), ``rename`` or
    ``delete``."""
    owner, name = call.param("owner"), call.param("name")
    fields = form(call)
    datasets = call.loft.datasets
    action = fields.get("action")
    if action == "about":
        tags = [tag.strip() for tag in fields.get("tags", "").split(",") if tag.strip()]
        changes: dict[str, object] = {"description": fields.get("description", ""), "tags": tags}
        if "visibility" in fields:
            changes["visibility"] = fields["visibility"]
        datasets.update(call.actor, owner, name, changes)
        return RedirectResponse(dataset_url(owner, name, "settings"), status_code=303)
    if action == "rename":
        renamed = datasets.update(call.actor, owner, name, {"name": fields.get("name", "")})
        return RedirectResponse(dataset_url(owner, renamed.name, "settings"), status_code=303)
    if action == "delete":
        if fields.get("confirm") != name:
            raise Invalid(f"type the dataset's name, {name!r}, to delete it")
        datasets.delete(call.actor, owner, name)
        return RedirectResponse(owner_url(owner), status_code=303)
    raise Invalid("unknown settings form")


ROUTES: Routes = {"/ui/{owner}/{name}/-/settings": {"GET": settings, "POST": change}}
