"""Operations on accounts: logging in, tokens, users, teams and their members, projects,
and the licence list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict, Unpack

from dataloft_client._commands import Listing, Op, Request
from dataloft_client._http import Context, call, fields, json_request, segment, send
from dataloft_client._paging import items, pages
from dataloft_client.models import Licence, Me, Member, NewToken, Project, Team, Token, User

Level = Literal["R", "X", "W", "A"]


class UserUpdate(TypedDict, total=False):
    """What ``update_user`` may change: your own ``email``, ``full_name``, ``password``
    (``revoke_tokens=True`` revokes your tokens too); site admins also ``is_admin`` and
    ``is_active``."""

    email: str | None
    full_name: str | None
    password: str
    revoke_tokens: bool
    is_admin: bool
    is_active: bool


class NameUpdate(TypedDict, total=False):
    """What ``update_team`` and ``update_project`` may change."""

    name: str
    description: str


# --- auth ------------------------------------------------------------------------------------


def login(ctx: Context, username: str, password: str, name: str = "sdk") -> Op[NewToken]:
    """Exchange a password for a new token (valid 30 days), which this client then uses.
    Saving it for later clients is ``dataloft_client.save_login``'s job."""
    body = {"username": username, "password": password, "name": name}
    made = NewToken.from_json((yield from call(ctx, json_request("POST", "/auth/token", body))))
    ctx.token = made.token
    return made


def whoami(ctx: Context) -> Op[Me]:
    return Me.from_json((yield from call(ctx, Request("GET", "/me"))))


def list_tokens(ctx: Context, username: str | None = None) -> Listing[Token]:
    """Your tokens (site admins: ``username``'s), oldest first, never their secrets."""
    return items(ctx, Token.from_json, "/tokens", fields(username=username))


def create_token(
    ctx: Context,
    name: str = "",
    *,
    username: str | None = None,
    scope: Literal["read"] | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
) -> Op[NewToken]:
    """A new token; ``scope="read"`` makes one that can only read. Without an expiry it
    does not expire."""
    body = fields(
        name=name,
        username=username,
        scope=scope,
        expires_at=expires_at.isoformat() if expires_at is not None else None,
        expires_in_days=expires_in_days,
    )
    return NewToken.from_json((yield from call(ctx, json_request("POST", "/tokens", body))))


def revoke_token(ctx: Context, token_id: int) -> Op[None]:
    yield from send(ctx, Request("DELETE", f"/tokens/{int(token_id)}"))


# --- users -----------------------------------------------------------------------------------


def list_users(ctx: Context) -> Listing[User]:
    """Every user, by username (site admins only)."""
    return pages(ctx, User.from_json, "/users")


def create_user(
    ctx: Context,
    username: str,
    *,
    password: str | None = None,
    email: str | None = None,
    full_name: str | None = None,
    is_admin: bool = False,
) -> Op[User]:
    """A new user (site admins only); without a password they cannot log in."""
    body = fields(
        username=username,
        password=password,
        email=email,
        full_name=full_name,
        is_admin=is_admin or None,
    )
    return User.from_json((yield from call(ctx, json_request("POST", "/users", body))))


def get_user(ctx: Context, username: str) -> Op[User]:
    return User.from_json((yield from call(ctx, Request("GET", f"/users/{segment(username)}"))))


def update_user(ctx: Context, username: str, **changes: Unpack[UserUpdate]) -> Op[User]:
    request = json_request("PATCH", f"/users/{segment(username)}", dict(changes))
    return User.from_json((yield from call(ctx, request)))


def deactivate_user(ctx: Context, username: str) -> Op[User]:
    """Users are never deleted: this one can no longer log in, and their tokens stop."""
    request = Request("DELETE", f"/users/{segment(username)}")
    return User.from_json((yield from call(ctx, request)))


# --- teams, members, projects ----------------------------------------------------------------


def _team(team: str) -> str:
    return f"/teams/{segment(team)}"


def list_teams(ctx: Context) -> Listing[Team]:
    """Your teams (site admins: all), by name, with their members."""
    return items(ctx, Team.from_json, "/teams")


def create_team(ctx: Context, name: str, description: str = "") -> Op[Team]:
    """A new team, with you as its first member at level A."""
    body = {"name": name, "description": description}
    return Team.from_json((yield from call(ctx, json_request("POST", "/teams", body))))


def get_team(ctx: Context, team: str) -> Op[Team]:
    return Team.from_json((yield from call(ctx, Request("GET", _team(team)))))


def update_team(ctx: Context, team: str, **changes: Unpack[NameUpdate]) -> Op[Team]:
    return Team.from_json((yield from call(ctx, json_request("PATCH", _team(team), dict(changes)))))


def delete_team(ctx: Context, team: str) -> Op[None]:
    yield from send(ctx, Request("DELETE", _team(team)))


def list_members(ctx: Context, team: str) -> Listing[Member]:
    return items(ctx, Member.from_json, _team(team) + "/members")


def set_member(ctx: Context, team: str, username: str, level: Level) -> Op[Member]:
    """Add ``username`` to the team, or change their level."""
    url = f"{_team(team)}/members/{segment(username)}"
    return Member.from_json((yield from call(ctx, json_request("PUT", url, {"level": level}))))


def remove_member(ctx: Context, team: str, username: str) -> Op[None]:
    yield from send(ctx, Request("DELETE", f"{_team(team)}/members/{segment(username)}"))


def list_projects(ctx: Context, team: str) -> Listing[Project]:
    return items(ctx, Project.from_json, _team(team) + "/projects")


def create_project(ctx: Context, team: str, name: str, description: str = "") -> Op[Project]:
    body = {"name": name, "description": description}
    request = json_request("POST", _team(team) + "/projects", body)
    return Project.from_json((yield from call(ctx, request)))


def _project(team: str, project: str) -> str:
    return f"{_team(team)}/projects/{segment(project)}"


def get_project(ctx: Context, team: str, project: str) -> Op[Project]:
    return Project.from_json((yield from call(ctx, Request("GET", _project(team, project)))))


def update_project(
    ctx: Context, team: str, project: str, **changes: Unpack[NameUpdate]
) -> Op[Project]:
    request = json_request("PATCH", _project(team, project), dict(changes))
    return Project.from_json((yield from call(ctx, request)))


def delete_project(ctx: Context, team: str, project: str) -> Op[None]:
    yield from send(ctx, Request("DELETE", _project(team, project)))


# --- licences --------------------------------------------------------------------------------


def list_licences(ctx: Context) -> Listing[Licence]:
    return items(ctx, Licence.from_json, "/licences")


def get_licence(ctx: Context, key: int | str) -> Op[Licence]:
    """A licence by id or name (any case)."""
    url = f"/licences/{segment(str(key))}"
    return Licence.from_json((yield from call(ctx, Request("GET", url))))
