"""The home page (your datasets, search, what is public) and a person's or team's page."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.names import validate_owner_lookup
from dataloft.core.results import DatasetView, Page, TeamView
from dataloft.web.render import page

PAGE_SIZE = 50


def root(call: Call) -> Response:
    return RedirectResponse("/ui/", status_code=307)


def home(call: Call) -> Response:
    """Signed in: your datasets, then the public ones. ``?q=`` searches names and
    descriptions of everything you may read. A page at a time (``?after=``)."""
    datasets = call.loft.datasets
    q = (call.query("q") or "").strip()
    after = call.query("after")
    me = call.actor
    mine = None
    if q:
        listing = datasets.list_datasets(me, q=q, limit=PAGE_SIZE, cursor=after, by_name=True)
        title = f"Datasets matching “{q}”"
    else:
        if not me.is_anonymous and not after:
            mine = datasets.list_datasets(me, owner=me.username, limit=PAGE_SIZE, by_name=True)
        listing = datasets.list_datasets(
            me, visibility="public", limit=PAGE_SIZE, cursor=after, by_name=True
        )
        title = "Public datasets"
    return page(call, "home.html", {"q": q, "mine": mine, "listing": listing, "title": title})


def owner(call: Call) -> Response:
    """A person's or a team's datasets that you may read; a team's page leads to the team
    (for those who may see it). Below, the owner's trash: their deleted datasets, for
    those the core lists them to (the owner, site admins), each with a Restore button."""
    name = call.param("owner")
    try:
        validate_owner_lookup(name)
    except Invalid:  # no one can be called that
        raise NotFound(f"no one is called {name!r}") from None
    listing = call.loft.datasets.list_datasets(
        call.actor, owner=name, limit=PAGE_SIZE, cursor=call.query("after"), by_name=True
    )
    team = None if call.actor.is_anonymous else _team_named(call, name)
    trash = None if call.actor.is_anonymous else _trash(call, name)
    context = {"owner": name, "listing": listing, "team": team, "trash": trash}
    return page(call, "owner.html", context)


def _trash(call: Call, name: str) -> Page[DatasetView]:
    """A page of ``name``'s deleted datasets (``?trash_after=``), as many as the core lists
    to the caller: none unless they are the owner or a site admin."""
    return call.loft.datasets.list_datasets(
        call.actor,
        owner=name,
        deleted=True,
        limit=PAGE_SIZE,
        cursor=call.query("trash_after"),
        by_name=True,
    )


def _team_named(call: Call, name: str) -> TeamView | None:
    """The team called ``name`` if there is one the caller may see (its members and site
    admins; to anyone else a team's name is nobody's)."""
    try:
        return call.loft.accounts.get_team(call.actor, name)
    except NotFound:
        return None


ROUTES: Routes = {
    "/": {"GET": root},
    "/ui/": {"GET": home},
    "/ui/{owner}": {"GET": owner},
}
