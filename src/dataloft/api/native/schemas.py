"""Request and response bodies of the native API (they also document it in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dataloft.core.results import (
    DatasetView,
    DiffItem,
    EntryView,
    EventView,
    MemberView,
    ProjectView,
    TeamView,
    TokenView,
    UserView,
    VersionView,
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth and accounts -----------------------------------------------------------------------


class LoginBody(Body):
    username: str
    password: str
    name: str = Field("login", description="A label for the token this login creates")


class TokenCreateBody(Body):
    name: str = ""
    username: str | None = Field(None, description="Admins may make tokens for other users")
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    scope: Literal["read"] | None = Field(None, description="'read': the token can only read")


class NewTokenOut(BaseModel):
    token: str = Field(description="The secret. It is shown this once and never again.")
    id: int
    name: str
    scope: str | None
    expires_at: datetime | None


class MeOut(BaseModel):
    user: UserView
    teams: dict[str, str] = Field(description="team name -> your level in it")


class UserCreateBody(Body):
    username: str
    password: str | None = None
    email: str | None = None
    full_name: str | None = None
    is_admin: bool = False


class UserPatchBody(Body):
    email: str | None = None
    full_name: str | None = None
    password: str | None = Field(
        None, description="A new password; logs out every login session of the account"
    )
    revoke_tokens: bool | None = Field(None, description="true: revoke all its API tokens too")
    is_admin: bool | None = None
    is_active: bool | None = None


class TeamCreateBody(Body):
    name: str
    description: str = ""


class RenameBody(Body):
    name: str | None = None
    description: str | None = None


class MemberBody(Body):
    level: Literal["R", "X", "W", "A"]


class ProjectCreateBody(Body):
    name: str
    description: str = ""


class UserPage(BaseModel):
    items: list[UserView]
    next_cursor: str | None


# --- datasets --------------------------------------------------------------------------------


class DatasetCreateBody(Body):
    name: str
    owner: str | None = Field(None, description="Default: you. Admins may create for others.")
    description: str = ""
    tags: list[str] = []
    visibility: Literal["private", "public"] = "private"
    licence: str | int | None = Field(None, description="Licence name or id")
    project: str | None = Field(None, description="'team/project'")
    metadata: dict[str, Any] = {}


class DatasetPatchBody(Body):
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    visibility: Literal["private", "public"] | None = None
    licence: str | int | None = None
    project: str | None = None
    metadata: dict[str, Any] | None = Field(None, description="A JSON merge patch")


class DatasetPage(BaseModel):
    items: list[DatasetView]
    next_cursor: str | None


class VersionPage(BaseModel):
    items: list[VersionView]
    next_cursor: str | None


class EntryPage(BaseModel):
    version: int = Field(description="The dataset version this listing shows")
    items: list[EntryView]
    next_cursor: str | None


class DiffOut(BaseModel):
    from_version: int = Field(alias="from")
    to_version: int = Field(alias="to")
    items: list[DiffItem]
    next_cursor: str | None

    model_config = ConfigDict(populate_by_name=True)


# --- commits ---------------------------------------------------------------------------------


class _Guarded(Body):
    if_match: str | None = Field(
        None,
        description="Only if the current sha256 is this: bare hex, or the ETag as sent "
        '(quoted, W/ allowed); "*": only if the entry exists',
    )
    if_none_match: bool = Field(False, description="Only if the entry does not exist yet")


class PutFileOp(_Guarded):
    op: Literal["put_file"]
    path: str
    sha256: str = Field(description="A blob uploaded before with PUT /loft/v1/blobs/{sha256}")
    media_type: str | None = None
    metadata: dict[str, Any] | None = None


class DeleteFileOp(_Guarded):
    op: Literal["delete_file"]
    path: str


class PutSymlinkOp(_Guarded):
    op: Literal["put_symlink"]
    path: str
    target: str
    metadata: dict[str, Any] | None = None


class PutRecordOp(_Guarded):
    op: Literal["put_record"]
    id: str
    value: Any = Field(description="Any JSON value; {type, data} tags for Buffers, Sets, ...")
    metadata: dict[str, Any] | None = None


class DeleteRecordOp(_Guarded):
    op: Literal["delete_record"]
    id: str


ChangeOp = Annotated[
    PutFileOp | DeleteFileOp | PutSymlinkOp | PutRecordOp | DeleteRecordOp,
    Field(discriminator="op"),
]


class CommitBody(Body):
    parent: int | None = Field(None, ge=0, description="Fail with 412 unless this is the head")
    message: str = ""
    changes: list[ChangeOp]


class CommitOut(BaseModel):
    version: VersionView
    outcomes: list[str]


class WriteOut(BaseModel):
    """The answer to a single-entry write."""

    version: int
    outcome: str
    entry: EntryView | None


class BlobOut(BaseModel):
    sha256: str
    size: int
    created: bool


class EventPage(BaseModel):
    items: list[EventView]
    last_seq: int = Field(description="Resume with after=<last_seq>")


__all__ = [
    "MemberView",
    "ProjectView",
    "TeamView",
    "TokenView",
]
