"""UFDL's users, teams (with memberships) and projects over the core's accounts.

The shapes are UFDL's (``pk``, ``creator``, ``creation_time``, ``deletion_time``); the
rules are the core's, with UFDL's own where it is stricter (only site admins make teams
and users). Deliberate differences, all in docs/ufdl.md: non-members asking for a team or
project get 404, not 403; adding someone who is already a member is a 400, not UFDL's 500;
users may read their own account by number (UFDL refused it by mistake); moving a project
to another team needs W there too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.api.ufdl.common import (
    answer,
    flag,
    json_object,
    moment,
    no_content,
    number,
    only_keys,
    pk,
    put_and_patch,
    required,
    text,
)
from dataloft.api.ufdl.listing import list_route
from dataloft.core.access import Level
from dataloft.core.errors import Forbidden, Invalid
from dataloft.core.results import MembershipRecord, ProjectRecord, TeamRecord, UserView

# --- users -----------------------------------------------------------------------------------

_USER_FIELDS = ("username", "password", "email", "first_name", "last_name", "is_active", "is_staff")
# Shown but never set through UFDL: UFDL ignores them when written.
_USER_READ_ONLY = ("pk", "last_login", "is_superuser", "date_joined")


def render_user(user: UserView) -> dict[str, Any]:
    # UFDL has a first and a last name, the core one full name: the first word is the first
    # name, the rest the last name, and writing either sets the full name.
    first, _, last = (user.full_name or "").partition(" ")
    return {
        "username": user.username,
        "pk": user.id,
        "last_login": moment(user.last_login),
        "is_superuser": user.is_admin,
        "first_name": first,
        "last_name": last,
        "email": user.email or "",
        "is_staff": user.is_admin,
        "is_active": user.is_active,
        "date_joined": moment(user.created),
    }


def _user_changes(call: Call, body: dict[str, Any], current: UserView | None) -> dict[str, Any]:
    only_keys(body, _USER_FIELDS + _USER_READ_ONLY)
    changes: dict[str, Any] = {}
    if "password" in body:
        changes["password"] = text(body, "password", 1024)
    if "email" in body:
        changes["email"] = text(body, "email", 320) or None
    if "first_name" in body or "last_name" in body:
        first, _, last = ((current.full_name if current else None) or "").partition(" ")
        first = text(body, "first_name", 100) if "first_name" in body else first
        last = text(body, "last_name", 100) if "last_name" in body else last
        changes["full_name"] = " ".join(part for part in (first, last) if part) or None
    if "is_active" in body:
        changes["is_active"] = flag(body, "is_active")
    if "is_staff" in body:
        changes["is_admin"] = flag(body, "is_staff")
    return changes


def create_user(call: Call) -> Response:
    body = json_object(call)
    required(body, "username", "password")
    changes = _user_changes(call, body, None)
    accounts = call.loft.accounts
    made = accounts.create_user(
        call.actor,
        text(body, "username", 150),
        changes.pop("password"),
        email=changes.pop("email", None),
        full_name=changes.pop("full_name", None),
        is_admin=changes.pop("is_admin", False),
    )
    if changes:  # is_active
        accounts.update_user(call.actor, made.username, changes)
    return answer(render_user(call.loft.directory.user(call.actor, made.id)), 201)


def get_user(call: Call) -> Response:
    return answer(render_user(call.loft.directory.user(call.actor, pk(call))))


def get_user_by_name(call: Call) -> Response:
    """UFDL answers a username with a list of the users so named (one)."""
    found = call.loft.directory.user_named(call.actor, call.param("username"))
    return answer([render_user(found)])


def _update_user(call: Call, partial: bool) -> Response:
    if not call.actor.is_admin:
        raise Forbidden("only site admins change users here")
    directory = call.loft.directory
    current = directory.user(call.actor, pk(call))
    body = json_object(call)
    if not partial:
        required(body, "username")
    if "username" in body and text(body, "username", 150) != current.username:
        raise Invalid("username: usernames cannot be changed")
    call.loft.accounts.update_user(call.actor, current.username, _user_changes(call, body, current))
    return answer(render_user(directory.user(call.actor, current.id)))


def deactivate_user(call: Call) -> Response:
    """UFDL's delete only deactivates."""
    if not call.actor.is_admin:
        raise Forbidden("only site admins deactivate users")
    username = call.loft.directory.user(call.actor, pk(call)).username
    call.loft.accounts.deactivate_user(call.actor, username)
    return no_content()


# --- teams -----------------------------------------------------------------------------------


def render_team(team: TeamRecord) -> dict[str, Any]:
    return {
        "pk": team.id,
        "name": team.name,
        "members": [{"pk": pk, "username": username} for pk, username in team.members],
        "creator": team.created_by,
        "creation_time": moment(team.created),
        "deletion_time": moment(team.deleted_at),
    }


def render_membership(membership: MembershipRecord) -> dict[str, Any]:
    return {
        "user": membership.user_id,
        "team": membership.team_id,
        "permissions": membership.level,
        "creator": membership.created_by,
        "creation_time": moment(membership.created),
        "deletion_time": moment(membership.deleted_at),
    }


def create_team(call: Call) -> Response:
    if not call.actor.is_admin and not call.actor.is_anonymous:
        raise Forbidden("only site admins make teams")
    body = json_object(call)
    only_keys(body, ("name", "pk", "members", "creator", "creation_time", "deletion_time"))
    required(body, "name")
    made = call.loft.accounts.create_team(call.actor, text(body, "name", 100), join=False)
    return answer(render_team(call.loft.directory.team(call.actor, made.id)), 201)


def get_team(call: Call) -> Response:
    return answer(render_team(call.loft.directory.team(call.actor, pk(call))))


def _update_team(call: Call, partial: bool) -> Response:
    directory = call.loft.directory
    name = directory.team_name(call.actor, pk(call), Level.ADMIN)
    body = json_object(call)
    only_keys(body, ("name", "pk", "members", "creator", "creation_time", "deletion_time"))
    if not partial:
        required(body, "name")
    if "name" in body:
        call.loft.accounts.update_team(call.actor, name, {"name": text(body, "name", 100)})
    return answer(render_team(directory.team(call.actor, pk(call))))


def retire_team(call: Call) -> Response:
    call.loft.directory.retire_team(call.actor, pk(call))
    return no_content()


def purge_team(call: Call) -> Response:
    return answer(render_team(call.loft.directory.purge_team(call.actor, pk(call))))


def reinstate_team(call: Call) -> Response:
    found = call.loft.directory.reinstate_team(call.actor, pk(call))
    return answer(render_team(found))


_METHODS = ("add", "remove", "update")


def change_membership(call: Call) -> Response:
    """``{"username", "method": add | remove | update, "permissions"?: R | X | W | A}``."""
    directory, accounts = call.loft.directory, call.loft.accounts
    team_id = pk(call)
    team = directory.team_name(call.actor, team_id, Level.ADMIN)
    body = json_object(call)
    only_keys(body, ("username", "method", "permissions"))
    required(body, "username", "method")
    username, method = text(body, "username", 150), body["method"]
    if method not in _METHODS:
        raise Invalid(f"method: must be one of {', '.join(_METHODS)}, not {method!r}")
    level = text(body, "permissions", 1) if "permissions" in body else "R"
    if level not in ("R", "X", "W", "A"):
        raise Invalid(f"permissions: must be one of R, X, W, A, not {level!r}")
    member = directory.has_member(team_id, username)
    if method == "add" and member:
        raise Invalid(f"Bad name {username!r}: This user is already a member of team {team}")
    if method != "add" and not member:
        raise Invalid(f"Bad name {username!r}: This user is not a current member of team {team}")
    if method == "remove":
        ended = directory.membership(call.actor, team_id, username)
        accounts.remove_member(call.actor, team, username)
        return answer(render_membership(_ended(ended, call)))
    accounts.set_member(call.actor, team, username, level)
    return answer(render_membership(directory.membership(call.actor, team_id, username)))


def _ended(membership: MembershipRecord, call: Call) -> MembershipRecord:
    return replace(membership, deleted_at=call.loft.auth.clock())


def member_level(call: Call) -> Response:
    directory, username = call.loft.directory, call.param("username")
    team = directory.team_name(call.actor, pk(call), Level.ADMIN)
    if not directory.has_member(pk(call), username):
        raise Invalid(f"Bad name {username!r}: This user is not a current member of team {team}")
    return answer(directory.membership(call.actor, pk(call), username).level)


# --- projects --------------------------------------------------------------------------------


def render_project(project: ProjectRecord) -> dict[str, Any]:
    return {
        "pk": project.id,
        "name": project.name,
        "team": project.team_id,
        "creator": project.created_by,
        "creation_time": moment(project.created),
        "deletion_time": moment(project.deleted_at),
    }


_PROJECT_KEYS = ("name", "team", "pk", "creator", "creation_time", "deletion_time")


def create_project(call: Call) -> Response:
    body = json_object(call)
    only_keys(body, _PROJECT_KEYS)
    required(body, "name", "team")
    made = call.loft.directory.create_project(
        call.actor, number(body, "team"), text(body, "name", 100)
    )
    return answer(render_project(made), 201)


def get_project(call: Call) -> Response:
    found = call.loft.directory.project(call.actor, pk(call))
    return answer(render_project(found))


def _update_project(call: Call, partial: bool) -> Response:
    body = json_object(call)
    only_keys(body, _PROJECT_KEYS)
    if not partial:
        required(body, "name", "team")
    found = call.loft.directory.update_project(
        call.actor,
        pk(call),
        text(body, "name", 100) if "name" in body else None,
        number(body, "team") if "team" in body else None,
    )
    return answer(render_project(found))


def retire_project(call: Call) -> Response:
    call.loft.directory.retire_project(call.actor, pk(call))
    return no_content()


def purge_project(call: Call) -> Response:
    found = call.loft.directory.purge_project(call.actor, pk(call))
    return answer(render_project(found))


def reinstate_project(call: Call) -> Response:
    found = call.loft.directory.reinstate_project(call.actor, pk(call))
    return answer(render_project(found))


ROUTES: Routes = {
    "/v1/users/list": {
        "POST": list_route(lambda c, s: c.loft.directory.users(c.actor, s), render_user)
    },
    "/v1/users/create": {"POST": create_user},
    "/v1/users/{pk:int}": {
        "GET": get_user,
        **put_and_patch(_update_user),
        "DELETE": deactivate_user,
    },
    "/v1/users/{username}": {"GET": get_user_by_name},
    "/v1/teams/list": {
        "POST": list_route(lambda c, s: c.loft.directory.teams(c.actor, s), render_team)
    },
    "/v1/teams/create": {"POST": create_team},
    "/v1/teams/{pk:int}": {
        "GET": get_team,
        **put_and_patch(_update_team),
        "DELETE": retire_team,
    },
    "/v1/teams/{pk:int}/memberships": {"PATCH": change_membership},
    "/v1/teams/{pk:int}/permissions/{username}": {"GET": member_level},
    "/v1/teams/{pk:int}/hard": {"DELETE": purge_team},
    "/v1/teams/{pk:int}/reinstate": {"DELETE": reinstate_team},
    "/v1/projects/list": {
        "POST": list_route(lambda c, s: c.loft.directory.projects(c.actor, s), render_project)
    },
    "/v1/projects/create": {"POST": create_project},
    "/v1/projects/{pk:int}": {
        "GET": get_project,
        **put_and_patch(_update_project),
        "DELETE": retire_project,
    },
    "/v1/projects/{pk:int}/hard": {"DELETE": purge_project},
    "/v1/projects/{pk:int}/reinstate": {"DELETE": reinstate_project},
}
