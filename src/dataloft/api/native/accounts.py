"""Native API: login, tokens, users, teams, memberships, projects, licences."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Query, Response

from dataloft.api.clients import client_address
from dataloft.api.listings import model_listing
from dataloft.api.native.deps import NativeCall, PublicCall, native_router
from dataloft.api.native.openapi import ANONYMOUS, errors, link
from dataloft.api.native.schemas import (
    LoginBody,
    MemberBody,
    MeOut,
    NewTokenOut,
    ProjectCreateBody,
    ProjectPatchBody,
    TeamCreateBody,
    TeamPatchBody,
    TokenCreateBody,
    UserCreateBody,
    UserPage,
    UserPatchBody,
)
from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.pagination import MAX_LIMIT
from dataloft.core.results import (
    LicenceView,
    MemberView,
    NewToken,
    ProjectView,
    TeamView,
    TokenView,
    UserView,
)
from dataloft.db.types import utcnow

router = native_router()
# After creating a user, team or project, a client reads it.
_USER_LINKS = {"GetUser": link("get_user", username="$response.body#/username")}
_TEAM_LINKS = {
    "GetTeam": link("get_team", team="$response.body#/name"),
    "ListProjects": link("list_projects", team="$response.body#/name"),
}
_PROJECT_LINKS = {
    "GetProject": link("get_project", team="$response.body#/team", project="$response.body#/name")
}


def _new_token_out(made: NewToken) -> NewTokenOut:
    return NewTokenOut(
        token=made.secret,
        id=made.token.id,
        name=made.token.name,
        scope=made.token.scope,
        expires_at=made.token.expires_at,
    )


# --- auth ------------------------------------------------------------------------------------


@router.post("/auth/token", tags=["auth"], response_model=NewTokenOut, responses=errors(429))
def login(body: LoginBody, call: PublicCall) -> NewTokenOut:
    """Exchange a username and password for an API token (valid 30 days). Use it as
    ``Authorization: Bearer <token>`` here, and as the key of every other dialect."""
    address = client_address(call.request)
    return _new_token_out(call.loft.auth.login(body.username, body.password, body.name, address))


@router.get("/me", tags=["auth"], response_model=MeOut)
def me(call: NativeCall) -> MeOut:
    if call.actor.is_anonymous or call.actor.username is None:
        raise Unauthenticated("log in first")
    user = call.loft.accounts.get_user(call.actor, call.actor.username)
    teams = {
        team.name: call.actor.teams[team.id].value
        for team in call.loft.accounts.list_teams(call.actor, members=False)
        if team.id in call.actor.teams
    }
    return MeOut(user=user, teams=teams)


@router.get("/tokens", tags=["auth"], response_model=list[TokenView], responses=errors(403, 404))
def list_tokens(call: NativeCall, username: str | None = None) -> list[TokenView]:
    return call.loft.auth.list_tokens(call.actor, username)


@router.post(
    "/tokens", tags=["auth"], status_code=201, response_model=NewTokenOut, responses=errors(404)
)
def create_token(body: TokenCreateBody, call: NativeCall) -> NewTokenOut:
    if call.actor.is_anonymous:  # before judging the body: whoever you are, log in first
        raise Unauthenticated("log in to manage API tokens")
    if body.expires_at is not None and body.expires_in_days is not None:
        raise Invalid("give expires_at or expires_in_days, not both")
    expires = body.expires_at
    if body.expires_in_days is not None:
        expires = utcnow() + timedelta(days=body.expires_in_days)
    if expires is not None and expires.tzinfo is None:
        raise Invalid("expires_at needs a timezone, e.g. 2030-01-01T00:00:00Z")
    made = call.loft.auth.create_token(
        call.actor, username=body.username, name=body.name, expires_at=expires, scope=body.scope
    )
    return _new_token_out(made)


@router.delete("/tokens/{token_id}", tags=["auth"], status_code=204, responses=errors(404))
def revoke_token(token_id: int, call: NativeCall) -> Response:
    if call.actor.is_anonymous:  # like GET and POST /tokens: log in first (not "no such token")
        raise Unauthenticated("log in to manage API tokens")
    call.loft.auth.revoke_token(call.actor, token_id)
    return Response(status_code=204)


# --- users -----------------------------------------------------------------------------------


@router.get("/users", tags=["users"], response_model=UserPage, responses=errors(403))
def list_users(
    call: NativeCall,
    limit: int | None = Query(None, ge=1, le=MAX_LIMIT),
    cursor: str | None = None,
) -> Response:
    page = call.loft.accounts.list_users(call.actor, limit, cursor)
    return model_listing(call.request, UserPage(items=page.items, next_cursor=page.next_cursor))


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    response_model=UserView,
    responses={201: {"links": _USER_LINKS}, **errors(409)},
)
def create_user(body: UserCreateBody, call: NativeCall) -> UserView:
    return call.loft.accounts.create_user(
        call.actor,
        body.username,
        body.password,
        email=body.email,
        full_name=body.full_name,
        is_admin=body.is_admin,
    )


@router.get("/users/{username}", tags=["users"], response_model=UserView, responses=errors(404))
def get_user(username: str, call: NativeCall) -> UserView:
    return call.loft.accounts.get_user(call.actor, username)


@router.patch(
    "/users/{username}", tags=["users"], response_model=UserView, responses=errors(404, 409)
)
def update_user(username: str, body: UserPatchBody, call: NativeCall) -> UserView:
    changes = body.model_dump(include=body.model_fields_set)
    return call.loft.accounts.update_user(call.actor, username, changes)


@router.delete(
    "/users/{username}", tags=["users"], response_model=UserView, responses=errors(404, 409)
)
def deactivate_user(username: str, call: NativeCall) -> UserView:
    """Users are deactivated, not deleted: versions keep naming their authors."""
    return call.loft.accounts.deactivate_user(call.actor, username)


# --- teams, members, projects ----------------------------------------------------------------


@router.get("/teams", tags=["teams"], response_model=list[TeamView])
def list_teams(call: NativeCall) -> list[TeamView]:
    return call.loft.accounts.list_teams(call.actor)


@router.post(
    "/teams",
    tags=["teams"],
    status_code=201,
    response_model=TeamView,
    responses={201: {"links": _TEAM_LINKS}, **errors(409)},
)
def create_team(body: TeamCreateBody, call: NativeCall) -> TeamView:
    return call.loft.accounts.create_team(call.actor, body.name, body.description)


@router.get("/teams/{team}", tags=["teams"], response_model=TeamView, responses=errors(404))
def get_team(team: str, call: NativeCall) -> TeamView:
    return call.loft.accounts.get_team(call.actor, team)


@router.patch("/teams/{team}", tags=["teams"], response_model=TeamView, responses=errors(404, 409))
def update_team(team: str, body: TeamPatchBody, call: NativeCall) -> TeamView:
    return call.loft.accounts.update_team(
        call.actor, team, body.model_dump(include=body.model_fields_set)
    )


@router.delete("/teams/{team}", tags=["teams"], status_code=204, responses=errors(404, 409))
def delete_team(team: str, call: NativeCall) -> Response:
    call.loft.accounts.delete_team(call.actor, team)
    return Response(status_code=204)


@router.get(
    "/teams/{team}/members", tags=["teams"], response_model=list[MemberView], responses=errors(404)
)
def list_members(team: str, call: NativeCall) -> list[MemberView]:
    return call.loft.accounts.list_members(call.actor, team)


@router.put(
    "/teams/{team}/members/{username}",
    tags=["teams"],
    response_model=MemberView,
    responses=errors(404, 409),
)
def set_member(team: str, username: str, body: MemberBody, call: NativeCall) -> MemberView:
    """Add a member, or change their level: R (read) < X (execute) < W (write) < A (admin)."""
    return call.loft.accounts.set_member(call.actor, team, username, body.level)


@router.delete(
    "/teams/{team}/members/{username}", tags=["teams"], status_code=204, responses=errors(404, 409)
)
def remove_member(team: str, username: str, call: NativeCall) -> Response:
    call.loft.accounts.remove_member(call.actor, team, username)
    return Response(status_code=204)


@router.get(
    "/teams/{team}/projects",
    tags=["teams"],
    response_model=list[ProjectView],
    responses=errors(404),
)
def list_projects(team: str, call: NativeCall) -> list[ProjectView]:
    return call.loft.accounts.list_projects(call.actor, team)


@router.post(
    "/teams/{team}/projects",
    tags=["teams"],
    status_code=201,
    response_model=ProjectView,
    responses={201: {"links": _PROJECT_LINKS}, **errors(404, 409)},
)
def create_project(team: str, body: ProjectCreateBody, call: NativeCall) -> ProjectView:
    return call.loft.accounts.create_project(call.actor, team, body.name, body.description)


@router.get(
    "/teams/{team}/projects/{project}",
    tags=["teams"],
    response_model=ProjectView,
    responses=errors(404),
)
def get_project(team: str, project: str, call: NativeCall) -> ProjectView:
    return call.loft.accounts.get_project(call.actor, team, project)


@router.patch(
    "/teams/{team}/projects/{project}",
    tags=["teams"],
    response_model=ProjectView,
    responses=errors(404, 409),
)
def update_project(
    team: str, project: str, body: ProjectPatchBody, call: NativeCall
) -> ProjectView:
    changes = body.model_dump(include=body.model_fields_set)
    return call.loft.accounts.update_project(call.actor, team, project, changes)


@router.delete(
    "/teams/{team}/projects/{project}", tags=["teams"], status_code=204, responses=errors(404, 409)
)
def delete_project(team: str, project: str, call: NativeCall) -> Response:
    call.loft.accounts.delete_project(call.actor, team, project)
    return Response(status_code=204)


# --- licences --------------------------------------------------------------------------------


# These are public, but still take the caller: a bad token is a 401 everywhere, so that
# clients notice an expired token on whatever request they make first.
@router.get(
    "/licences", tags=["licences"], response_model=list[LicenceView], openapi_extra=ANONYMOUS
)
def list_licences(call: NativeCall) -> list[LicenceView]:
    return call.loft.accounts.list_licences()


@router.get(
    "/licences/{key}",
    tags=["licences"],
    response_model=LicenceView,
    responses=errors(404),
    openapi_extra=ANONYMOUS,
)
def get_licence(key: str, call: NativeCall) -> LicenceView:
    """By id or by name (case-insensitive)."""
    return call.loft.accounts.get_licence(key)
