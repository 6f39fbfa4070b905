"""The home page (your datasets, search, what is public) and a person's or team's page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.names import validate_owner_lookup
from dataloft.core.results import DatasetView, Page, TeamView
from dataloft.web.render import page

PAGE_SIZE = 50
RECENT_SIZE = 20  # public datasets on the home page, a page at a time
NONE = "Nothing matches."


def root(call: Call) -> Response:
    return RedirectResponse("/ui/", status_code=307)


@dataclass(frozen=True)
class Section:
    """One list of datasets on the home page: its title, a page of them, where its
    **More** link goes (the cursor follows) and what it says when empty."""

    key: str
    title: str
    listing: Page[DatasetView]
    more: str
    empty: str


def home(call: Call) -> Response:
    """Signed in: your datasets, your teams' and the public ones last updated first;
    signed out, the public ones. ``?q=`` searches everything you may read (names,
    descriptions, owners, tags). ``?show=teams`` or ``public`` pages through one list
    (``?after=``). Each list is one keyset page: the home page costs the same however
    many datasets there are."""
    q = (call.query("q") or "").strip()
    show = call.query("show")
    sections: list[Section | None]
    if q:
        sections = [_found(call, q)]
    else:
        signed_in = not call.actor.is_anonymous
        sections = [
            *([_yours(call)] if signed_in and show is None else []),
            *([_teams(call, show)] if signed_in and show in (None, "teams") else []),
            *([_public(call, show)] if show in (None, "public") else []),
        ]
    shown = [s for s in sections if s is not None]
    return page(call, "home.html", {"q": q, "sections": shown})


def _found(call: Call, q: str) -> Section:
    found = call.loft.datasets.list_datasets(
        call.actor, q=q, limit=PAGE_SIZE, cursor=call.query("after"), by_name=True
    )
    return Section("found", f"Datasets matching “{q}”", found, f"?q={quote(q)}&after=", NONE)


def _yours(call: Call) -> Section:
    me = call.actor.username or ""
    yours = call.loft.datasets.list_datasets(call.actor, owner=me, limit=PAGE_SIZE, by_name=True)
    empty = "You have no datasets yet: make one here, or push a folder with `dataloft push`."
    return Section("yours", "Your datasets", yours, f"/ui/{quote(me)}?after=", empty)


def _teams(call: Call, show: str | None) -> Section | None:
    """Datasets others keep in your teams' projects; on the home page only if there are."""
    if not call.actor.teams:
        return None
    cursor = call.query("after") if show == "teams" else None
    shared = call.loft.datasets.list_datasets(
        call.actor, teams=True, limit=PAGE_SIZE, cursor=cursor, by_name=True
    )
    if not shared.items and show != "teams":
        return None
    empty = "None of your teams' projects holds someone else's dataset."
    return Section("teams", "Your teams' datasets", shared, "?show=teams&after=", empty)


def _public(call: Call, show: str | None) -> Section:
    cursor = call.query("after") if show == "public" else None
    public = call.loft.datasets.list_datasets(
        call.actor, visibility="public", limit=RECENT_SIZE, cursor=cursor, recent=True
    )
    title = "Public datasets, last updated first"
    return Section("public", title, public, "?show=public&after=", "No public datasets yet.")


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
