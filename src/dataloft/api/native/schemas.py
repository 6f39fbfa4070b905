"""Request and response bodies of the native API (they also document it in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from dataloft.api.native.constraints import LOOKUP, json_object, rule, text
from dataloft.core.changes import MAX_ENTRY_METADATA_BYTES, MAX_MESSAGE_LENGTH
from dataloft.core.datasets import MAX_METADATA_BYTES, MAX_TAG_LENGTH, MAX_TAGS
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
    # Strict: a value of the type the schema gives, never one coerced into it (0 is not
    # false, "5" not 5), so that the schema's types are the whole truth.
    model_config = ConfigDict(extra="forbid", strict=True)


# Each string field documents the core rule that checks it (``constraints.py``); the core
# checks, so the message a client gets is the same in every dialect.
AccountName = Annotated[str, Field(json_schema_extra=rule("account_name"))]
NewOwnerName = Annotated[str, Field(json_schema_extra=rule("new_owner_name"))]
DatasetName = Annotated[str, Field(json_schema_extra=rule("dataset_name"))]
EntryPath = Annotated[str, Field(json_schema_extra=rule("path"))]
RecordId = Annotated[str, Field(json_schema_extra=rule("record_id"))]
Password = Annotated[str, Field(json_schema_extra=rule("password"))]
Sha256 = Annotated[str, Field(json_schema_extra=rule("sha256"))]


def _integral(value: object) -> object:
    """JSON has one kind of number: 5.0 is the integer 5, as JSON Schema reads it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# (Bounds go before the validator: after it, pydantic leaves them out of the JSON Schema.)
JsonInt = Annotated[int, BeforeValidator(_integral)]
Version = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
Days = Annotated[int, Field(ge=1, le=3650), BeforeValidator(_integral)]


def _text(limit: int, default: str | None) -> Any:
    """A free-text field (``check_text``) of at most ``limit`` characters."""
    return Field(default, json_schema_extra=text(limit))


def _not_null(schema: dict[str, Any]) -> WithJsonSchema:
    """For a field that may be left out of a PATCH but not sent as null (the core refuses
    null for it): documents the value's own type, without FastAPI's ``anyOf ... null``."""
    return WithJsonSchema(schema)


Metadata = Annotated[dict[str, Any], WithJsonSchema(json_object(MAX_METADATA_BYTES))]
EntryMetadata = Annotated[dict[str, Any], WithJsonSchema(json_object(MAX_ENTRY_METADATA_BYTES))]
TAGS = {
    "type": "array",
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "minLength": 1, **text(MAX_TAG_LENGTH)},
}
Tags = Annotated[list[str], WithJsonSchema(TAGS)]


# --- auth and accounts -----------------------------------------------------------------------


class LoginBody(Body):
    username: str = Field(json_schema_extra=LOOKUP)
    password: str
    name: str = Field(
        "login", description="A label for the token this login creates", json_schema_extra=text(200)
    )


class TokenCreateBody(Body):
    model_config = ConfigDict(
        # One expiry or the other (or none).
        json_schema_extra={
            "not": {
                "required": ["expires_at", "expires_in_days"],
                "properties": {
                    "expires_at": {"type": "string"},
                    "expires_in_days": {"type": "integer"},
                },
            }
        }
    )

    name: str = Field("", json_schema_extra=text(200))
    username: str | None = Field(
        None, description="Admins may make tokens for other users", json_schema_extra=LOOKUP
    )
    # Not strict: JSON has no datetimes, so this one is read from its RFC 3339 text.
    expires_at: datetime | None = Field(
        None, description="In the future, with a timezone", strict=False
    )
    expires_in_days: Days | None = None
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
    username: NewOwnerName
    password: Password | None = Field(None, description="None: the user cannot log in")
    email: str | None = _text(320, None)
    full_name: str | None = _text(200, None)
    is_admin: bool = False


class UserPatchBody(Body):
    email: str | None = _text(320, None)
    full_name: str | None = _text(200, None)
    password: Annotated[str | None, _not_null({"type": "string", **rule("password")})] = Field(
        None, description="A new password; logs out every login session of the account"
    )
    revoke_tokens: Annotated[bool | None, _not_null({"type": "boolean"})] = Field(
        None, description="true: revoke all its API tokens too"
    )
    is_admin: Annotated[bool | None, _not_null({"type": "boolean"})] = None
    is_active: Annotated[bool | None, _not_null({"type": "boolean"})] = None


class TeamCreateBody(Body):
    name: NewOwnerName
    description: str = _text(10_000, "")


class TeamPatchBody(Body):
    name: Annotated[str | None, _not_null({"type": "string", **rule("new_owner_name")})] = None
    description: Annotated[str | None, _not_null({"type": "string", **text(10_000)})] = None


class MemberBody(Body):
    level: Literal["R", "X", "W", "A"]


class ProjectCreateBody(Body):
    name: AccountName
    description: str = _text(10_000, "")


class ProjectPatchBody(Body):
    name: Annotated[str | None, _not_null({"type": "string", **rule("account_name")})] = None
    description: Annotated[str | None, _not_null({"type": "string", **text(10_000)})] = None


class UserPage(BaseModel):
    items: list[UserView]
    next_cursor: str | None


# --- datasets --------------------------------------------------------------------------------

_PROJECT = "'team/project': share it with that team"


class DatasetCreateBody(Body):
    name: DatasetName
    owner: str | None = Field(
        None, description="Default: you. Admins may create for others.", json_schema_extra=LOOKUP
    )
    description: str = _text(100_000, "")
    tags: Tags = []
    visibility: Literal["private", "public"] = "private"
    licence: str | JsonInt | None = Field(
        None, description="Licence name or id", json_schema_extra=LOOKUP
    )
    project: str | None = Field(None, description=_PROJECT, json_schema_extra=rule("project"))
    metadata: Metadata = {}


class DatasetPatchBody(Body):
    name: Annotated[str | None, _not_null({"type": "string", **rule("dataset_name")})] = None
    description: Annotated[str | None, _not_null({"type": "string", **text(100_000)})] = None
    tags: Annotated[list[str] | None, _not_null(TAGS)] = None
    visibility: Annotated[
        Literal["private", "public"] | None,
        _not_null({"type": "string", "enum": ["private", "public"]}),
    ] = None
    licence: str | JsonInt | None = Field(
        None, description="Licence name or id; null: none", json_schema_extra=LOOKUP
    )
    project: str | None = Field(
        None, description=_PROJECT + "; null: none", json_schema_extra=rule("project")
    )
    metadata: Annotated[dict[str, Any] | None, _not_null(json_object(MAX_METADATA_BYTES))] = Field(
        None, description="A JSON merge patch (null removes a key)"
    )


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
    path: EntryPath
    sha256: Sha256 = Field(
        description="Bytes you may name: uploaded with PUT /loft/v1/blobs/{sha256}, or held "
        "by a dataset you can read"
    )
    media_type: str | None = Field(None, json_schema_extra=rule("media_type"))
    metadata: EntryMetadata | None = None


class DeleteFileOp(_Guarded):
    op: Literal["delete_file"]
    path: EntryPath


class PutSymlinkOp(_Guarded):
    op: Literal["put_symlink"]
    path: EntryPath
    target: str = Field(
        description="Relative to the link's folder, and staying inside the dataset",
        json_schema_extra=rule("symlink_target"),
    )
    metadata: EntryMetadata | None = None


class PutRecordOp(_Guarded):
    op: Literal["put_record"]
    id: RecordId
    value: Any = Field(description="Any JSON value; {type, data} tags for Buffers, Sets, ...")
    metadata: EntryMetadata | None = None


class DeleteRecordOp(_Guarded):
    op: Literal["delete_record"]
    id: RecordId


ChangeOp = Annotated[
    PutFileOp | DeleteFileOp | PutSymlinkOp | PutRecordOp | DeleteRecordOp,
    Field(discriminator="op"),
]


class CommitBody(Body):
    parent: Version | None = Field(None, description="Fail with 412 unless this is the head")
    message: str = _text(MAX_MESSAGE_LENGTH, "")
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


class BlobBatchOut(BaseModel):
    stored: list[BlobOut] = Field(description="Each member, in the order sent")


# How many digests one bulk probe may ask about (``POST /blobs/missing``).
MAX_PROBE = 10_000


class BlobProbeBody(Body):
    sha256: list[Sha256] = Field(max_length=MAX_PROBE, description="Digests, lowercase hex")


class BlobProbeOut(BaseModel):
    missing: list[str] = Field(
        description="Those you must upload before a commit may name them, in the order "
        "asked, each once"
    )


class EventPage(BaseModel):
    items: list[EventView]
    last_seq: int = Field(description="Resume with after=<last_seq>")


__all__ = [
    "MemberView",
    "ProjectView",
    "TeamView",
    "TokenView",
]
