"""Teams: the ones you belong to (site admins: every one), making one, and a team's page
with its members and projects.

The core decides everything here (``core/accounts.py``): who may see a team (its members
and site admins; anyone else is told it does not exist, 404), who may manage its members
(its admins, level A), who may make projects in it (its writers, W), and that a team keeps
at least one admin. A page offers only the forms its reader may use (``team_allows``, the
core's rule), and every form's action is checked by the core again.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from dataloft.api.pipeline import Call, Routes
from dataloft.core.access import Level
from dataloft.core.accounts import team_allows
from dataloft.web.render import page, segment
from dataloft.web.session import form, sign_in_first

TEAMS_PATH = "/ui/-/teams"
# A level's code (UFDL's, which the API and the CLI take too) and what it lets a member do.
LEVELS = {
    Level.READ.value: "R: read",
    Level.EXECUTE.value: "X: read and run",
    Level.WRITE.value: "W: write",
    Level.ADMIN.value: "A: admin",
}


def team_url(team: str, *tail: str) -> str:
    return "/".join((TEAMS_PATH, segment(team), *tail))


def teams(call: Call) -> Response:
    away = sign_in_first(call, TEAMS_PATH)
    if away is not None:
        return away
    listed = call.loft.accounts.list_teams(call.actor)
    mine = call.actor.teams  # a site admin sees teams they are not in
    levels = {team.id: LEVELS[mine[team.id].value] for team in listed if team.id in mine}
    return page(call, "teams.html", {"teams": listed, "levels": levels})


def create(call: Call) -> Response:
    fields = form(call)
    made = call.loft.accounts.create_team(
        call.actor, fields.get("name", "").strip(), fields.get("description", "")
    )
    return RedirectResponse(team_url(made.name), status_code=303)


def team(call: Call) -> Response:
    name = call.param("team")
    away = sign_in_first(call, team_url(name))
    if away is not None:
        return away
    accounts = call.loft.accounts
    shown = accounts.get_team(call.actor, name)
    context = {
        "team": shown,
        "projects": accounts.list_projects(call.actor, name),
        "manager": team_allows(call.actor, shown.id, Level.ADMIN),
        "writer": team_allows(call.actor, shown.id, Level.WRITE),
        "levels": LEVELS,
        "base": team_url(shown.name),
    }
    return page(call, "team.html", context)


def set_member(call: Call) -> Response:
    """Add a member, or change one's level: the same form field names either way."""
    name = call.param("team")
    fields = form(call)
    username = fields.get("username", "").strip()
    call.loft.accounts.set_member(call.actor, name, username, fields.get("level", ""))
    return RedirectResponse(team_url(name), status_code=303)


def remove_member(call: Call) -> Response:
    """Remove a member; a member who removes themselves has left, and goes to their teams."""
    name, username = call.param("team"), call.param("username")
    form(call)
    call.loft.accounts.remove_member(call.actor, name, username)
    left = username == call.actor.username
    return RedirectResponse(TEAMS_PATH if left else team_url(name), status_code=303)


def create_project(call: Call) -> Response:
    name = call.param("team")
    fields = form(call)
    call.loft.accounts.create_project(
        call.actor, name, fields.get("name", "").strip(), fields.get("description", "")
    )
    return RedirectResponse(team_url(name), status_code=303)


ROUTES: Routes = {
    TEAMS_PATH: {"GET": teams, "POST": create},
    TEAMS_PATH + "/{team}": {"GET": team},
    TEAMS_PATH + "/{team}/members": {"POST": set_member},
    TEAMS_PATH + "/{team}/members/{username}/remove": {"POST": remove_member},
    TEAMS_PATH + "/{team}/projects": {"POST": create_project},
}
