"""A dataset's settings, for those who may change it: its description and tags (writers);
its visibility, its name, its project (which puts it in a team's hands) and deleting it
(its admins: the owner, a team's admins, site admins); giving it to another user (site
admins). Anyone else who may read the dataset is refused (403); anyone who may not is told
it does not exist (404), as everywhere. A deleted dataset is restored from its owner's
page (its Trash), by a form that posts here."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid
from dataloft.web.datasets import writer_context
from dataloft.web.render import dataset_url, owner_url, page
from dataloft.web.session import form


def settings(call: Call) -> Response:
    context = writer_context(call)
    # The projects it may move into: those the core would take from this caller.
    projects = call.loft.accounts.writable_projects(call.actor) if context["admin"] else []
    context.update(tab="settings", projects=[f"{p.team}/{p.name}" for p in projects])
    return page(call, "settings.html", context)


def change(call: Call) -> Response:
    """One of the page's forms: ``about`` (description, tags, visibility), ``rename``,
    ``project``, ``transfer`` or ``delete``."""
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
    if action == "project":  # "team/project", or none
        datasets.update(call.actor, owner, name, {"project": fields.get("project") or None})
        return RedirectResponse(dataset_url(owner, name, "settings"), status_code=303)
    if action == "transfer":
        given = datasets.transfer(call.actor, owner, name, fields.get("owner", "").strip())
        return RedirectResponse(dataset_url(given.owner, given.name, "settings"), status_code=303)
    if action == "delete":
        if fields.get("confirm") != name:
            raise Invalid(f"type the dataset's name, {name!r}, to delete it")
        datasets.delete(call.actor, owner, name)
        return RedirectResponse(owner_url(owner), status_code=303)
    raise Invalid("unknown settings form")


def restore(call: Call) -> Response:
    """A deleted dataset back (the one with the form's ``uid``, of those of that name)."""
    fields = form(call)
    restored = call.loft.datasets.restore(
        call.actor, call.param("owner"), call.param("name"), fields.get("uid") or None
    )
    return RedirectResponse(dataset_url(restored.owner, restored.name), status_code=303)


ROUTES: Routes = {
    "/ui/{owner}/{name}/-/settings": {"GET": settings, "POST": change},
    "/ui/{owner}/{name}/-/restore": {"POST": restore},
}
