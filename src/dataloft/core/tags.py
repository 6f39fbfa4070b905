"""Named tags: a name (``v1.0``) for one version of a dataset (7).

Wherever a version number is read (files, records, listings, archives, diff, the version
itself), a tag name is read too: a ``VersionRef`` is either, and ``version_at`` turns one
into a number of the dataset at hand. Tag names are never all digits, so ``7`` always
means version 7 and a tag can never hide one.

Those who may write to a dataset create, move and delete its tags; each of those is an
event (``tag.create``, ``tag.move``, ``tag.delete``) in the dataset's feed, so a mirror or a
CI job following the feed sees a release being tagged. Tags go with their dataset: a purge
drops them (the foreign key cascades), a soft delete keeps them for a restore.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.datasets import DatasetService, Located
from dataloft.core.errors import Invalid, NotFound, PreconditionFailed
from dataloft.core.pagination import ascii_natural, keyset_rows
from dataloft.core.results import Page
from dataloft.db import Database
from dataloft.db.models import User, VersionTag, table_of
from dataloft.db.prepared import Prepared

VersionRef = int | str  # a version number, or the name of a tag

MAX_TAG = 100
_TAG_CHAR = r"[A-Za-z0-9._+\-]"
# Letters, digits and ``. _ + -`` (what release names use: ``v1.0``, ``2026-12-07``,
# ``1.0+build.5``), starting with a letter or digit, with at least one character that is
# not a digit (a number is a version); ASCII only, so no tag can pass for another with a
# letter of another script. ``/`` and ``@`` are out: they separate a reference's parts
# (``owner/name@v1.0/path``). Written without lookarounds so that the OpenAPI document can
# carry it as it is.
TAG_PATTERN = rf"(?:[A-Za-z]{_TAG_CHAR}*|[0-9]+[A-Za-z._+\-]{_TAG_CHAR}*)"
_TAG = re.compile(TAG_PATTERN)
# The pattern of a ``?version=`` value: a number, or a tag.
VERSION_REF_PATTERN = rf"^(?:[0-9]+|{TAG_PATTERN})$"

_TAGS = table_of(VersionTag)
_TAG_LOOKUP = Prepared(
    select(_TAGS.c.version).where(
        _TAGS.c.dataset_id == bindparam("dataset_id"), _TAGS.c.name == bindparam("name")
    )
)


def check_tag_name(name: str) -> str:
    if len(name) > MAX_TAG or not _TAG.fullmatch(name):
        raise Invalid(
            f"invalid tag name {name!r}: 1-{MAX_TAG} ASCII letters, digits, '.', '_', '+' or "
            "'-', starting with a letter or digit, and not all digits (a number is a version)"
        )
    return name


def parse_version_ref(raw: str, field: str = "version") -> VersionRef:
    """A version as a client writes it in a query: ASCII digits are a number, anything
    else must be a tag name."""
    number = ascii_natural(raw)
    if number is not None:
        return number
    try:
        return check_tag_name(raw)
    except Invalid:
        raise Invalid(f"{field} must be a version number or a tag name, not {raw!r}") from None


def version_at(db: Database, located: Located, ref: VersionRef | None) -> int:
    """The version number ``ref`` names in the dataset (its head when None): a number must
    exist, a tag must be one of the dataset's."""
    head = located.row.head
    if ref is None:
        return head
    if isinstance(ref, str):
        with db.lookup() as lookup:
            row = lookup.first(_TAG_LOOKUP, dataset_id=located.row.id, name=ref)
        if row is None:
            raise NotFound(f"dataset {located.address} has no tag {ref!r}")
        return int(row[0])
    if not 0 <= ref <= head:
        raise NotFound(f"dataset {located.address} has no version {ref} (head is {head})")
    return ref


@dataclass(frozen=True)
class TagView:
    name: str
    version: int
    author: str | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class TagSet:
    """What ``TagService.put`` did: the tag now, and whether it is new."""

    tag: TagView
    created: bool


class TagService:
    def __init__(
        self, db: Database, datasets: DatasetService, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.clock = clock

    def resolve(self, actor: Principal, owner: str, name: str, ref: VersionRef | None) -> int:
        """The version ``ref`` names in a dataset the actor may read."""
        located = self.datasets.locate(actor, owner, name, Action.READ)
        return version_at(self.db, located, ref)

    def list(
        self,
        actor: Principal,
        owner: str,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[TagView]:
        """The dataset's tags, by name."""
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            query = (
                select(VersionTag, User.username)
                .outerjoin(User, User.id == VersionTag.author_id)
                .where(VersionTag.dataset_id == located.row.id)
            )
            rows, next_cursor = keyset_rows(
                session, query, VersionTag.name, str, limit=limit, cursor=cursor
            )
        return Page([_view(tag, author) for tag, author in rows], next_cursor)

    def get(self, actor: Principal, owner: str, name: str, tag: str) -> TagView:
        check_tag_name(tag)
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            return _view(*self._row(session, located, tag))

    def put(
        self,
        actor: Principal,
        owner: str,
        name: str,
        tag: str,
        version: int,
        *,
        create_only: bool = False,
    ) -> TagSet:
        """Point ``tag`` at ``version``: a new tag, or a move of an existing one (to the
        version it already names, nothing changes and no event is made)."""
        check_tag_name(tag)
        with self.db.write() as session:
            located = self.datasets.locate(actor, owner, name, Action.WRITE, lock=True)
            version_at(self.db, located, version)
            row = session.get(VersionTag, (located.row.id, tag), with_for_update=True)
            previous = None if row is None else row.version
            if row is not None and create_only:
                raise PreconditionFailed(
                    f"tag {tag!r} of {located.address} already exists (at version {previous})"
                )
            if previous != version:
                now = self.clock()
                if row is None:
                    row = VersionTag(dataset_id=located.row.id, name=tag, created=now)
                    session.add(row)
                row.version, row.author_id, row.updated = version, actor.user_id, now
                kind = "tag.create" if previous is None else "tag.move"
                extra = {"tag": tag, "version": version, "previous": previous}
                self.datasets.record_event(session, actor, kind, located, extra)
            session.flush()
            assert row is not None
            author = session.get(User, row.author_id) if row.author_id else None
            return TagSet(_view(row, author.username if author else None), previous is None)

    def delete(self, actor: Principal, owner: str, name: str, tag: str) -> None:
        check_tag_name(tag)
        with self.db.write() as session:
            located = self.datasets.locate(actor, owner, name, Action.WRITE, lock=True)
            row, _ = self._row(session, located, tag)
            session.execute(
                delete(VersionTag).where(
                    VersionTag.dataset_id == located.row.id, VersionTag.name == tag
                )
            )
            extra = {"tag": tag, "version": None, "previous": row.version}
            self.datasets.record_event(session, actor, "tag.delete", located, extra)

    @staticmethod
    def _row(session: Session, located: Located, tag: str) -> tuple[VersionTag, str | None]:
        row = session.execute(
            select(VersionTag, User.username)
            .outerjoin(User, User.id == VersionTag.author_id)
            .where(VersionTag.dataset_id == located.row.id, VersionTag.name == tag)
        ).first()
        if row is None:
            raise NotFound(f"dataset {located.address} has no tag {tag!r}")
        return row[0], row[1]


def _view(tag: VersionTag, author: str | None) -> TagView:
    return TagView(tag.name, tag.version, author, tag.created, tag.updated)
