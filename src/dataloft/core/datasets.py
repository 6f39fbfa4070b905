"""Datasets: creation, lookup by ``owner/name``, listing, settings, soft and hard delete.

Reading or writing a dataset's contents goes through ``locate``, which applies the access
rule of ``dataloft.core.access`` and, for writers, locks the dataset row so that commits to
one dataset are serialised (PostgreSQL; SQLite serialises all writers anyway).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal, Target, require
from dataloft.core.accounts import AccountService
from dataloft.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.events import EventLog
from dataloft.core.names import check_text, validate_dataset_name
from dataloft.core.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor, every
from dataloft.core.results import DatasetView, Page
from dataloft.db import Database
from dataloft.db.models import Dataset, Event, Licence, Project, Team, User, Version, table_of
from dataloft.db.prepared import Prepared
from dataloft.db.types import utcnow

VISIBILITIES = ("private", "public")
MAX_TAGS = 100
MAX_TAG_LENGTH = 100
MAX_METADATA_BYTES = 1024 * 1024

# Who may change what: contents-level settings need write access, the rest admin access.
_WRITE_FIELDS = {"description", "tags", "metadata", "licence"}
_ADMIN_FIELDS = {"visibility", "project", "name"}


DATASETS = table_of(Dataset)
_USERS = table_of(User)
_LICENCES = table_of(Licence)
PROJECTS = table_of(Project)
_PROJECTS = PROJECTS
_TEAMS = table_of(Team)


@dataclass
class DatasetRow:
    """A ``datasets`` row as plain data. Writers change it with ``DatasetService.save``."""

    id: int
    uid: str
    owner_id: int
    name: str
    description: str
    tags: list[str]
    licence_id: int | None
    project_id: int | None
    visibility: str
    metadata: dict[str, Any]
    head: int
    file_count: int
    record_count: int
    total_bytes: int
    created: datetime
    updated: datetime
    deleted_at: datetime | None


_ROW_FIELDS = len(fields(DatasetRow))


@dataclass
class Located:
    """A dataset row found by address, with what access checks and views need."""

    row: DatasetRow
    owner: str
    team_id: int | None
    licence: str | None
    project: str | None

    @property
    def target(self) -> Target:
        return Target(self.row.owner_id, self.row.visibility, self.team_id)

    @property
    def address(self) -> str:
        return f"{self.owner}/{self.row.name}"

    def view(self) -> DatasetView:
        row = self.row
        return DatasetView(
            id=row.id,
            uid=row.uid,
            owner=self.owner,
            name=row.name,
            description=row.description,
            tags=list(row.tags),
            visibility=row.visibility,
            licence=self.licence,
            project=self.project,
            metadata=dict(row.metadata),
            version=row.head,
            file_count=row.file_count,
            record_count=row.record_count,
            total_bytes=row.total_bytes,
            created=row.created,
            updated=row.updated,
            deleted_at=row.deleted_at,
        )


def _base_query() -> Select[Any]:
    return select(
        *DATASETS.c,
        _USERS.c.username,
        _TEAMS.c.name.label("team"),
        _PROJECTS.c.name.label("project"),
        _PROJECTS.c.team_id,
        _LICENCES.c.name.label("licence"),
    ).select_from(
        address_join()
        .outerjoin(_LICENCES, _LICENCES.c.id == DATASETS.c.licence_id)
        .outerjoin(_TEAMS, _TEAMS.c.id == _PROJECTS.c.team_id)
    )


def live_by_address() -> list[ColumnElement[bool]]:
    """The live dataset at the address given as bind parameters ``owner`` and ``name``
    (with ``datasets`` joined to its owner in ``users``)."""
    return [
        _USERS.c.username == bindparam("owner"),
        DATASETS.c.name == bindparam("name"),
        DATASETS.c.deleted_at.is_(None),
    ]


def address_join() -> FromClause:
    """``datasets`` with its owner and project: what finding one and checking access need."""
    return DATASETS.join(_USERS, _USERS.c.id == DATASETS.c.owner_id).outerjoin(
        _PROJECTS, _PROJECTS.c.id == DATASETS.c.project_id
    )


_LOCATE_QUERY = _base_query().where(*live_by_address())
_BY_ID = Prepared(_base_query().where(DATASETS.c.id == bindparam("dataset_id")))
_LOCATE = Prepared(_LOCATE_QUERY)
_LOCATE_FOR_UPDATE = Prepared(_LOCATE_QUERY.with_for_update(of=DATASETS))


def _located(row: Sequence[Any]) -> Located:
    owner, team, project, team_id, licence = row[_ROW_FIELDS:]
    return Located(
        DatasetRow(*row[:_ROW_FIELDS]),
        owner,
        team_id,
        licence,
        f"{team}/{project}" if project else None,
    )


def _cursor_moment(text: str) -> datetime:
    """The time a cursor of ``recent`` datasets holds (made by ``list_datasets``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"invalid cursor time {text!r}") from None
    if moment.tzinfo is None:
        raise Invalid(f"invalid cursor time {text!r}")
    return moment


def visible_filter(principal: Principal) -> ColumnElement[bool]:
    """``can(principal, READ, dataset)`` as a SQL condition on ``Dataset``."""
    if principal.is_admin:
        return true()
    conditions: list[ColumnElement[bool]] = [DATASETS.c.visibility == "public"]
    if principal.user_id is not None:
        conditions.append(DATASETS.c.owner_id == principal.user_id)
    if principal.teams:
        teams = list(principal.teams)
        team_projects = select(_PROJECTS.c.id).where(_PROJECTS.c.team_id.in_(teams))
        conditions.append(DATASETS.c.project_id.in_(team_projects))
    return or_(*conditions)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise Invalid(f"tags must be a list of at most {MAX_TAGS} strings")
    for tag in tags:
        if not check_text(tag, "each tag", MAX_TAG_LENGTH):
            raise Invalid(f"each tag must be a string of 1-{MAX_TAG_LENGTH} characters")
    return list(dict.fromkeys(tags))


def check_json_document(document: Any, field: str, limit: int) -> dict[str, Any]:
    """A JSON object of bounded size that both databases store alike (no NUL anywhere) and
    every read can write back as JSON (no NaN or Infinity, which PostgreSQL refuses and
    JSON has not)."""
    if not isinstance(document, dict):
        raise Invalid(f"{field} must be a JSON object")
    try:
        text = json.dumps(document, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError):
        raise Invalid(f"{field} must be plain JSON") from None
    if len(text) > limit:
        raise Invalid(f"{field} must be at most {limit} bytes of JSON")
    if _holds_nul(document):
        raise Invalid(f"{field} must not contain NUL characters")
    return document


def _holds_nul(document: Any) -> bool:
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_metadata(metadata: Any) -> dict[str, Any]:
    return check_json_document(metadata, "metadata", MAX_METADATA_BYTES)


def _check_visibility(visibility: Any) -> str:
    if visibility not in VISIBILITIES:
        raise Invalid(f"visibility must be 'private' or 'public', not {visibility!r}")
    return str(visibility)


def check_description(description: Any) -> str:
    return check_text(description, "description", 100_000)


class DatasetService:
    def __init__(
        self, db: Database, events: EventLog, accounts: AccountService, *, max_name_length: int
    ) -> None:
        self.db = db
        self.events = events
        self.accounts = accounts
        self.max_name_length = max_name_length

    # --- lookup ----------------------------------------------------------------------------

    def locate(
        self, actor: Principal, owner: str, name: str, action: Action, *, lock: bool = False
    ) -> Located:
        """The live dataset ``owner/name`` if ``actor`` may do ``action`` on it. Inside a
        write transaction, ``lock`` holds its row until the transaction ends (writers use
        it to serialise commits to one dataset)."""
        if "\x00" in owner or "\x00" in name:  # no such name can exist
            raise NotFound(f"dataset {owner}/{name} not found")
        with self.db.lookup() as lookup:
            row = lookup.first(_LOCATE_FOR_UPDATE if lock else _LOCATE, owner=owner, name=name)
        if row is None:
            raise NotFound(f"dataset {owner}/{name} not found")
        located = _located(row)
        require(actor, action, located.target, f"dataset {owner}/{name}")
        return located

    def check_readable(self, actor: Principal, dataset_id: int) -> None:
        """``NotFound`` unless ``actor`` may read the dataset with this id, whatever its
        name now and whether or not it is in the trash (a purged one is gone): for a feed
        of one dataset's events, which outlives renames and soft deletes."""
        with self.db.lookup() as lookup:
            row = lookup.first(_BY_ID, dataset_id=dataset_id)
        if row is None:
            raise NotFound(f"dataset {dataset_id} not found")
        located = _located(row)
        require(actor, Action.READ, located.target, f"dataset {located.address}")

    def get(
        self, actor: Principal, owner: str, name: str, action: Action = Action.READ
    ) -> DatasetView:
        """The dataset, if the actor may do ``action`` on it (writers check before they
        stream a large upload; the commit checks again under the lock)."""
        return self.locate(actor, owner, name, action).view()

    def list_datasets(
        self,
        actor: Principal,
        *,
        owner: str | None = None,
        q: str | None = None,
        visibility: str | None = None,
        deleted: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        by_name: bool = False,
        recent: bool = False,
        teams: bool = False,
    ) -> Page[DatasetView]:
        """Datasets the actor may read, oldest first (or ``by_name``, or ``recent``: the
        last updated first), keyset-paginated. ``q`` finds a substring of the name, the
        description, the owner's name or a tag. ``teams``: only those in the projects of
        the actor's teams that someone else owns. ``deleted`` lists soft-deleted datasets
        instead (the actor's own; all of them for admins)."""
        size = clamp_limit(limit)
        if recent:
            order: tuple[ColumnElement[Any], ...] = (DATASETS.c.updated, DATASETS.c.id)
            query = _base_query().order_by(*(column.desc() for column in order))
        else:
            order = (DATASETS.c.name, DATASETS.c.id) if by_name else (DATASETS.c.id,)
            query = _base_query().order_by(*order)
        query = query.limit(size + 1)
        if deleted:
            if actor.is_anonymous:
                raise Unauthenticated("log in to list deleted datasets")
            query = query.where(DATASETS.c.deleted_at.is_not(None))
            if not actor.is_admin:
                query = query.where(DATASETS.c.owner_id == actor.user_id)
        else:
            query = query.where(DATASETS.c.deleted_at.is_(None), visible_filter(actor))
        if owner:
            query = query.where(_USERS.c.username == check_text(owner, "owner", 100))
        if teams:
            mine = list(actor.teams)
            in_teams = select(_PROJECTS.c.id).where(_PROJECTS.c.team_id.in_(mine))
            others = DATASETS.c.owner_id != actor.user_id if actor.user_id else true()
            query = query.where(DATASETS.c.project_id.in_(in_teams), others)
        if q:
            needle = check_text(q, "q", 1000).lower()
            query = query.where(
                or_(
                    *(
                        func.lower(column).contains(needle, autoescape=True)
                        for column in (
                            DATASETS.c.name,
                            DATASETS.c.description,
                            _USERS.c.username,
                            cast(DATASETS.c.tags, Text),
                        )
                    )
                )
            )
        if visibility is not None:
            query = query.where(DATASETS.c.visibility == _check_visibility(visibility))
        if cursor:
            if recent:
                moment, before = decode_cursor(cursor, str, int)
                query = query.where(tuple_(*order) < tuple_(_cursor_moment(moment), before))
            else:
                key = decode_cursor(cursor, *((str, int) if by_name else (int,)))
                query = query.where(tuple_(*order) > tuple_(*key))
        with self.db.read() as session:
            rows = [_located(row) for row in session.execute(query)]
        more = len(rows) > size
        rows = rows[:size]
        if not more:
            return Page([r.view() for r in rows])
        last = rows[-1].row
        if recent:
            next_cursor = encode_cursor(last.updated.isoformat(), last.id)
        elif by_name:
            next_cursor = encode_cursor(last.name, last.id)
        else:
            next_cursor = encode_cursor(last.id)
        return Page([r.view() for r in rows], next_cursor)

    def iter_datasets(
        self, actor: Principal, *, owner: str | None = None, by_name: bool = False
    ) -> Iterator[DatasetView]:
        """Every dataset ``list_datasets`` would list, page after page."""

        def fetch(cursor: str | None) -> Page[DatasetView]:
            return self.list_datasets(
                actor, owner=owner, by_name=by_name, limit=MAX_LIMIT, cursor=cursor
            )

        return every(fetch)

    # --- create / update -------------------------------------------------------------------

    def create(
        self,
        actor: Principal,
        owner: str,
        name: str,
        *,
        description: str = "",
        tags: Sequence[str] = (),
        visibility: str = "private",
        licence: str | int | None = None,
        project: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        uid: str | None = None,
    ) -> DatasetView:
        """A new, empty dataset at version 0. Users create datasets for themselves; admins
        for anyone."""
        if actor.is_anonymous:
            raise Unauthenticated("log in to create datasets")
        if actor.scope is not None:
            raise Forbidden("this token may only read")
        if owner != actor.username and not actor.is_admin:
            raise Forbidden(f"you may not create datasets for {owner!r}")
        validate_dataset_name(name, self.max_name_length)
        if uid is not None and (len(uid) != 32 or not all(c in "0123456789abcdef" for c in uid)):
            raise Invalid("uid must be 32 lowercase hex characters")
        with self.db.write() as session:
            owner_row = session.scalar(select(User).where(User.username == owner))
            if owner_row is None:
                raise NotFound(f"user {owner!r} not found")
            licence_id = (
                self.accounts.resolve_licence(session, licence).id if licence is not None else None
            )
            project_id = (
                self.accounts.resolve_project(session, actor, project).id
                if project is not None
                else None
            )
            row = Dataset(
                uid=uid or secrets.token_hex(16),
                owner_id=owner_row.id,
                name=name,
                description=check_description(description),
                tags=check_tags(list(tags)),
                visibility=_check_visibility(visibility),
                meta=_check_metadata(dict(metadata or {})),
                licence_id=licence_id,
                project_id=project_id,
                head=0,
            )
            return self.insert(session, actor, row, owner).view()

    def insert(self, session: Session, actor: Principal, row: Dataset, owner: str) -> Located:
        """Add a new dataset, whose fields the caller checked and whose creation its rules
        allowed, at version 0, in the caller's transaction."""
        self._ensure_name_free(session, row.owner_id, row.name, owner)
        session.add(row)
        session.flush()
        session.add(
            Version(dataset_id=row.id, number=0, author_id=actor.user_id, message="created")
        )
        located = self.reload(session, row.id)
        self.record_event(session, actor, "dataset.create", located, {"visibility": row.visibility})
        return located

    def update(
        self, actor: Principal, owner: str, name: str, changes: Mapping[str, Any]
    ) -> DatasetView:
        needed = self.action_for(changes)
        with self.db.write() as session:
            located = self.locate(actor, owner, name, needed, lock=True)
            return self.apply_update(session, actor, located, changes).view()

    @staticmethod
    def action_for(changes: Mapping[str, Any]) -> Action:
        """What the caller must be allowed to do to make these changes; unknown fields are
        ``Invalid``."""
        unknown = set(changes) - _WRITE_FIELDS - _ADMIN_FIELDS
        if unknown:
            raise Invalid(f"unknown dataset fields: {', '.join(sorted(unknown))}")
        return Action.ADMIN if set(changes) & _ADMIN_FIELDS else Action.WRITE

    def apply_update(
        self, session: Session, actor: Principal, located: Located, changes: Mapping[str, Any]
    ) -> Located:
        """Make ``changes`` to a dataset located (and locked) for ``action_for(changes)``,
        in the caller's transaction, so that they stand or fall with the rest of it (a
        commit's, see ``CommitService.commit``); the dataset as it is now."""
        values = self._new_values(session, actor, located, changes)
        extra = {"changed": sorted(changes)}
        return self.change_in(session, actor, located, "dataset.update", extra, **values)

    def change_in(
        self,
        session: Session,
        actor: Principal,
        located: Located,
        kind: str,
        extra: dict[str, Any],
        **values: Any,
    ) -> Located:
        """Write checked column values of a dataset whose rules allowed the change (its
        ``updated`` time too), in the caller's transaction, and record the event
        ``kind``; the dataset as it is now."""
        self.save(session, located, **values, updated=utcnow())
        located = self.reload(session, located.row.id)
        self.record_event(session, actor, kind, located, extra)
        return located

    def _new_values(
        self, session: Session, actor: Principal, located: Located, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate requested changes into new column values."""
        row = located.row
        values: dict[str, Any] = {}
        if "description" in changes:
            values["description"] = check_description(changes["description"])
        if "tags" in changes:
            values["tags"] = check_tags(changes["tags"])
        if "metadata" in changes:
            values["metadata"] = _check_metadata(merge_patch(row.metadata, changes["metadata"]))
        if "visibility" in changes:
            values["visibility"] = _check_visibility(changes["visibility"])
        if "licence" in changes:
            licence = changes["licence"]
            values["licence_id"] = (
                None if licence is None else self.accounts.resolve_licence(session, licence).id
            )
        if "project" in changes:
            project = changes["project"]
            values["project_id"] = (
                None
                if project is None
                else self.accounts.resolve_project(session, actor, project).id
            )
        if "name" in changes and changes["name"] != row.name:
            if not isinstance(changes["name"], str):
                raise Invalid("name must be a string")
            new_name = validate_dataset_name(changes["name"], self.max_name_length)
            self._ensure_name_free(session, row.owner_id, new_name, located.owner)
            values["name"] = new_name
        return values

    @staticmethod
    def save(session: Session, located: Located, **values: Any) -> None:
        """Write changed columns of a located dataset, in the caller's transaction."""
        session.execute(update(DATASETS).where(DATASETS.c.id == located.row.id).values(**values))
        for column, value in values.items():
            setattr(located.row, column, value)

    # --- delete / restore / purge ----------------------------------------------------------

    def transfer(self, actor: Principal, owner: str, name: str, new_owner: str) -> DatasetView:
        """Give the dataset to another user (a site admin's change: Pbench's ownership
        transfer). The name must be free among the new owner's datasets."""
        if not actor.is_admin:
            raise Forbidden("only site admins give datasets to other users")
        with self.db.write() as session:
            located = self.locate(actor, owner, name, Action.ADMIN, lock=True)
            target = session.scalar(select(User.id).where(User.username == new_owner))
            if target is None:
                raise NotFound(f"user {new_owner!r} not found")
            self._ensure_name_free(session, target, located.row.name, new_owner)
            self.save(session, located, owner_id=target, updated=utcnow())
            self.record_event(session, actor, "dataset.transfer", located, {"owner": new_owner})
            return self.reload(session, located.row.id).view()

    def delete(
        self, actor: Principal, owner: str, name: str, *, only_if_empty: bool = False
    ) -> DatasetView:
        """Soft delete: the dataset disappears but can be restored, versions intact.
        ``only_if_empty`` refuses (``Conflict``) a dataset with any file or record at its
        head, checked under the lock so that nothing written meanwhile goes with it. Returns
        the dataset as it was deleted."""
        with self.db.write() as session:
            located = self.locate(actor, owner, name, Action.ADMIN, lock=True)
            row = located.row
            if only_if_empty and (row.file_count or row.record_count):
                raise Conflict(
                    f"dataset {owner}/{name} is not empty: it holds {row.file_count} files "
                    f"and {row.record_count} records"
                )
            self.save(session, located, deleted_at=utcnow())
            self.record_event(session, actor, "dataset.delete", located, {})
            return located.view()

    def retire_in(
        self, session: Session, actor: Principal, dataset_id: int, when: datetime
    ) -> None:
        """Soft-delete a dataset in the caller's transaction, whose rules already allowed
        it (a project taken out of use takes its live datasets with it)."""
        located = self.reload(session, dataset_id)
        self.change_in(session, actor, located, "dataset.delete", {}, deleted_at=when)

    def restore(
        self, actor: Principal, owner: str, name: str, uid: str | None = None
    ) -> DatasetView:
        """Bring back the most recently deleted ``owner/name`` (or the one with ``uid``)."""
        with self.db.write() as session:
            located = self._locate_deleted(session, actor, owner, name, uid)
            self._ensure_name_free(session, located.row.owner_id, name, owner)
            self.save(session, located, deleted_at=None, updated=utcnow())
            self.record_event(session, actor, "dataset.restore", located, {})
            return located.view()

    def purge(self, actor: Principal, owner: str, name: str, uid: str | None = None) -> None:
        """Delete for good: the live ``owner/name``, or else a deleted one. Its blobs stay
        until garbage collection finds them unreferenced."""
        with self.db.write() as session:
            try:
                located = self.locate(actor, owner, name, Action.ADMIN, lock=True)
                if uid is not None and located.row.uid != uid:
                    raise NotFound(f"dataset {owner}/{name} with uid {uid} not found")
            except NotFound:
                located = self._locate_deleted(session, actor, owner, name, uid)
            self.record_event(session, actor, "dataset.purge", located, {})
            session.flush()
            # Its events stay in the log, about no dataset (admins see those): nothing
            # keeps its id from being given to a new dataset (SQLite gives the newest
            # row's id again), whose readers must never read this one's history.
            session.execute(
                update(Event).where(Event.dataset_id == located.row.id).values(dataset_id=None)
            )
            session.execute(delete(DATASETS).where(DATASETS.c.id == located.row.id))

    def _locate_deleted(
        self, session: Session, actor: Principal, owner: str, name: str, uid: str | None
    ) -> Located:
        query = (
            _base_query()
            .where(
                _USERS.c.username == owner,
                DATASETS.c.name == name,
                DATASETS.c.deleted_at.is_not(None),
            )
            .order_by(DATASETS.c.deleted_at.desc())
            .limit(1)
        )
        if uid is not None:
            query = query.where(DATASETS.c.uid == uid)
        row = session.execute(query).first()
        if row is None:
            raise NotFound(f"no deleted dataset {owner}/{name}")
        located = _located(row)
        require(actor, Action.ADMIN, located.target, f"dataset {owner}/{name}")
        return located

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def reload(session: Session, dataset_id: int) -> Located:
        return _located(session.execute(_base_query().where(DATASETS.c.id == dataset_id)).one())

    @staticmethod
    def _ensure_name_free(session: Session, owner_id: int, name: str, owner: str) -> None:
        taken = session.scalar(
            select(Dataset.id).where(
                Dataset.owner_id == owner_id, Dataset.name == name, Dataset.deleted_at.is_(None)
            )
        )
        if taken:
            raise Conflict(f"dataset {owner}/{name} already exists")

    def record_event(
        self,
        session: Session,
        actor: Principal,
        kind: str,
        located: Located,
        extra: dict[str, Any],
    ) -> None:
        payload = {"dataset": located.address, "uid": located.row.uid, **extra}
        self.events.append(
            session,
            kind,
            payload,
            dataset_id=located.row.id,
            actor_id=actor.user_id,
            version=located.row.head,
        )
