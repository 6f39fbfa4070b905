"""Reading datasets: entries at any version, single entries, history and diffs.

"The entries at version v" are the rows with ``since <= v < until``; at the head that is
simply ``until IS NULL``, which a partial index serves. Listings are keyset-paginated on the
path, so page 50 costs what page 1 costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, bindparam, cast, or_, select, tuple_
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal, Target, require
from dataloft.core.blobs import BlobRef, BlobService
from dataloft.core.cbor import RenderCache, read_stored
from dataloft.core.changes import FILES, RECORDS
from dataloft.core.commits import entry_view, live_at, path_range, version_view
from dataloft.core.datasets import (
    DATASETS,
    PROJECTS,
    DatasetService,
    Located,
    address_join,
    live_by_address,
)
from dataloft.core.errors import EntryNotFound, Invalid, NotFound
from dataloft.core.names import (
    RECORD_ID_MAX,
    validate_path,
    validate_record_id,
)
from dataloft.core.pagination import (
    INT_MAX,
    MAX_LIMIT,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    every,
    keyset_rows,
)
from dataloft.core.results import (
    DatasetView,
    DiffItem,
    EntrySummary,
    EntryView,
    Page,
    VersionView,
)
from dataloft.core.tags import VersionRef, version_at
from dataloft.core.values import render_json
from dataloft.db import Database
from dataloft.db.models import Blob, Entry, User, Version, table_of
from dataloft.db.prepared import Prepared

ARCHIVE_PAGE = 1000


@dataclass(frozen=True)
class EntryRead:
    """One entry, ready to be served."""

    dataset: str  # "owner/name"
    version: int  # the dataset version it was read at
    entry: EntryView
    blob: BlobRef | None  # None for symlinks
    modified: datetime  # when the entry's content appeared


@dataclass(frozen=True)
class DiffPage:
    from_version: int
    to_version: int
    items: list[DiffItem]
    next_cursor: str | None


_ENTRIES, _BLOBS, _VERSIONS = table_of(Entry), table_of(Blob), table_of(Version)
# One statement finds the live dataset by address and, when it exists, the entry at version
# ``at`` (pass a number above any version for the head): the commonest read in one round
# trip. It selects only what the access check and the answer need.
_ENTRY_LOOKUP = Prepared(
    select(
        DATASETS.c.owner_id,
        DATASETS.c.visibility,
        PROJECTS.c.team_id,
        DATASETS.c.head,
        _ENTRIES.c.kind,
        _ENTRIES.c.path,
        _ENTRIES.c.size,
        _ENTRIES.c.digest,
        _ENTRIES.c.media_type,
        _ENTRIES.c.since,
        _ENTRIES.c.metadata,
        _ENTRIES.c.target,
        _BLOBS.c.data,
        _VERSIONS.c.created,
    )
    .select_from(
        address_join()
        .outerjoin(
            _ENTRIES,
            and_(
                _ENTRIES.c.dataset_id == DATASETS.c.id,
                _ENTRIES.c.space == bindparam("space"),
                _ENTRIES.c.path == bindparam("path"),
                _ENTRIES.c.since <= bindparam("at"),
                or_(_ENTRIES.c.until.is_(None), _ENTRIES.c.until > bindparam("at")),
            ),
        )
        .outerjoin(_BLOBS, _BLOBS.c.digest == _ENTRIES.c.digest)
        .outerjoin(
            _VERSIONS,
            and_(
                _VERSIONS.c.dataset_id == _ENTRIES.c.dataset_id,
                _VERSIONS.c.number == _ENTRIES.c.since,
            ),
        )
    )
    .where(*live_by_address()),
    remembered=True,
)


def _same_content(a: Entry, b: Entry) -> bool:
    return (a.kind, a.digest, a.media_type, a.meta or None, a.target) == (
        b.kind,
        b.digest,
        b.media_type,
        b.meta or None,
        b.target,
    )


class BrowseService:
    def __init__(
        self, db: Database, datasets: DatasetService, blobs: BlobService, *, max_path_length: int
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.blobs = blobs
        self.max_path_length = max_path_length
        self._rendered = RenderCache()

    def resolve_version(self, located: Located, version: VersionRef | None) -> int:
        return version_at(self.db, located, version)

    # --- entries ---------------------------------------------------------------------------

    def list_entries(
        self,
        actor: Principal,
        owner: str,
        name: str,
        space: str,
        *,
        version: VersionRef | None = None,
        prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> tuple[int, Page[EntryView]]:
        """Entries of one key space (files or records) at a version, in path order."""
        size = clamp_limit(limit)
        if prefix and ("\x00" in prefix or len(prefix) > RECORD_ID_MAX):
            raise Invalid("prefix must not contain NUL characters or exceed 10000 characters")
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            at = self.resolve_version(located, version)
            query = (
                select(Entry)
                .where(Entry.dataset_id == located.row.id, Entry.space == space)
                .where(live_at(at, located.row.head))
                .order_by(Entry.path)
                .limit(size + 1)
            )
            after = decode_cursor(cursor, str)[0] if cursor else None
            query = query.where(path_range(prefix or "", after))
            rows = list(session.scalars(query))
        more = len(rows) > size
        rows = rows[:size]
        return at, Page(
            [entry_view(r) for r in rows], encode_cursor(rows[-1].path) if more else None
        )

    def iter_entries(
        self, actor: Principal, owner: str, name: str, space: str, version: VersionRef | None = None
    ) -> tuple[int, Iterator[EntryView]]:
        """The version read (the head by default) and every entry ``list_entries`` lists
        at it, page after page. Versions never change, so the pages agree."""
        at, first = self.list_entries(actor, owner, name, space, version=version, limit=MAX_LIMIT)

        def fetch(cursor: str | None) -> Page[EntryView]:
            if cursor is None:
                return first
            return self.list_entries(
                actor, owner, name, space, version=at, limit=MAX_LIMIT, cursor=cursor
            )[1]

        return at, every(fetch)

    def summaries(
        self, actor: Principal, owner: str, name: str, space: str, version: VersionRef | None = None
    ) -> tuple[int, list[EntrySummary]]:
        """The version read (the head by default) and every entry of one key space at it,
        in path order, as one query on the entries' (dataset, space, path) index: for
        answers that list a whole key space at once (the Pigeon Optics record index)."""
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            at = self.resolve_version(located, version)
            # Columns of the table, not of the ORM class: an ORM select, even of columns,
            # costs its row processing (65 of 120 ms for 10,000 entries here).
            columns = _ENTRIES.c
            # Metadata as text, decoded once per distinct text: most records carry the
            # same document (no links), and decoding 10,000 of them took 12 of 30 ms.
            meta_text = cast(columns.metadata, Text)
            query = (
                select(columns.path, columns.digest, meta_text, columns.since)
                .where(columns.dataset_id == located.row.id, columns.space == space)
                .where(live_at(at, located.row.head, columns))
                .order_by(columns.path)
            )
            rows = session.connection().execute(query)
            decoded: dict[str, Any] = {}

            def meta(text: str | None) -> Any:
                if text is None:
                    return None
                if text not in decoded:
                    decoded[text] = json.loads(text)
                return decoded[text]

            return at, [
                EntrySummary(path, digest, meta(text), since) for path, digest, text, since in rows
            ]

    def get_entry(
        self,
        actor: Principal,
        owner: str,
        name: str,
        space: str,
        path: str,
        version: VersionRef | None = None,
    ) -> EntryRead:
        check_key(space, path, self.max_path_length)
        if "\x00" in owner or "\x00" in name:
            raise NotFound(f"dataset {owner}/{name} not found")
        if isinstance(version, str):  # a tag: its number first (the access check with it)
            located = self.datasets.locate(actor, owner, name, Action.READ)
            version = version_at(self.db, located, version)
        at = INT_MAX if version is None else min(version, INT_MAX)  # the range check follows
        with self.db.lookup() as lookup:
            row = lookup.first(_ENTRY_LOOKUP, owner=owner, name=name, space=space, path=path, at=at)
        if row is None:
            raise NotFound(f"dataset {owner}/{name} not found")
        owner_id, visibility, team_id, head, *found = row
        address = f"{owner}/{name}"
        require(actor, Action.READ, Target(owner_id, visibility, team_id), f"dataset {address}")
        if version is not None and not 0 <= version <= head:
            raise NotFound(f"dataset {address} has no version {version} (head is {head})")
        read_at = head if version is None else version
        kind, _, size, digest, media_type, since, metadata, target, inline, modified = found
        if kind is None:
            noun = "record" if space == RECORDS else "file"
            raise EntryNotFound(f"{noun} {path!r} not found in {address} at version {read_at}")
        entry = EntryView(kind, path, size, digest, media_type, since, metadata, target)
        blob = BlobRef(digest, size, inline) if digest else None
        return EntryRead(address, read_at, entry, blob, modified)

    def record_json(self, blob: BlobRef) -> bytes:
        """A record's value as tagged JSON."""
        if blob.inline is not None:
            return self._rendered.json(blob.digest, blob.inline)
        return render_json(read_stored(self.blobs.read_all(blob)))

    def record_value(self, blob: BlobRef) -> Any:
        """A record's value, from the blob of its entry."""
        return read_stored(self.blobs.read_all(blob))

    def read_record(
        self,
        actor: Principal,
        owner: str,
        name: str,
        record_id: str,
        version: VersionRef | None = None,
    ) -> tuple[EntryRead, Any]:
        found = self.get_entry(actor, owner, name, RECORDS, record_id, version)
        assert found.blob is not None
        return found, self.record_value(found.blob)

    def iter_contents(
        self,
        actor: Principal,
        owner: str,
        name: str,
        version: VersionRef | None = None,
        *,
        space: str | None = None,
    ) -> tuple[DatasetView, int, Iterator[tuple[EntryView, BlobRef | None, datetime]]]:
        """Every entry at a version with its blob and when it appeared (of one key
        ``space``, or files first, then records), for archives and exports. Pages are read
        in separate short transactions: versions never change, so the result is consistent
        without holding one transaction open for a long download."""
        located = self.datasets.locate(actor, owner, name, Action.READ)
        at = self.resolve_version(located, version)
        return located.view(), at, self._pages(located.row.id, at, located.row.head, space)

    def _pages(
        self, dataset_id: int, at: int, head: int, space: str | None
    ) -> Iterator[tuple[EntryView, BlobRef | None, datetime]]:
        after = (space or FILES, "")
        while True:
            with self.db.read() as session:
                query = (
                    select(Entry, Blob.data, Version.created)
                    .outerjoin(Blob, Blob.digest == Entry.digest)
                    .join(
                        Version,
                        and_(Version.dataset_id == Entry.dataset_id, Version.number == Entry.since),
                    )
                    .where(Entry.dataset_id == dataset_id, live_at(at, head))
                )
                if space is not None:
                    query = query.where(Entry.space == space)
                rows = session.execute(
                    query.where(tuple_(Entry.space, Entry.path) > after)
                    .order_by(Entry.space, Entry.path)
                    .limit(ARCHIVE_PAGE)
                ).all()
            for entry, inline, modified in rows:
                blob = BlobRef(entry.digest, entry.size, inline) if entry.digest else None
                yield entry_view(entry), blob, modified
            if len(rows) < ARCHIVE_PAGE:
                return
            after = (rows[-1][0].space, rows[-1][0].path)

    # --- versions --------------------------------------------------------------------------

    def list_versions(
        self,
        actor: Principal,
        owner: str,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[VersionView]:
        """History, newest first."""
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            query = (
                select(Version, User.username)
                .outerjoin(User, User.id == Version.author_id)
                .where(Version.dataset_id == located.row.id)
            )
            rows, next_cursor = keyset_rows(
                session, query, Version.number, int, limit=limit, cursor=cursor, descending=True
            )
        return Page([version_view(v, author) for v, author in rows], next_cursor)

    def get_version(
        self, actor: Principal, owner: str, name: str, number: VersionRef
    ) -> VersionView:
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            number = self.resolve_version(located, number)
            row = session.execute(
                select(Version, User.username)
                .outerjoin(User, User.id == Version.author_id)
                .where(Version.dataset_id == located.row.id, Version.number == number)
            ).one()
            return version_view(row[0], row[1])

    # --- diff ------------------------------------------------------------------------------

    def diff(
        self,
        actor: Principal,
        owner: str,
        name: str,
        from_version: VersionRef,
        to_version: VersionRef | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> DiffPage:
        """What changed between two versions, in (space, path) order. Its cost is the
        number of changes between them, whatever the size of the dataset."""
        size = clamp_limit(limit)
        with self.db.read() as session:
            located = self.datasets.locate(actor, owner, name, Action.READ)
            old = self.resolve_version(located, from_version)
            new = self.resolve_version(located, to_version)
            after = tuple(decode_cursor(cursor, str, str)) if cursor else None
            low, high = min(old, new), max(old, new)
            ended, started = self._changed_rows(session, located.row.id, low, high, after, size)
        items, last, more = _merge(ended, started, size)
        if old > new:  # a diff backwards is the forward diff inverted
            items = [_invert(item) for item in items]
        next_cursor = encode_cursor(*last) if more and last else None
        return DiffPage(old, new, items, next_cursor)

    def iter_diff(
        self, actor: Principal, owner: str, name: str, from_version: int, to_version: int
    ) -> Iterator[DiffItem]:
        """Every item ``diff`` lists between two versions, page after page."""

        def fetch(cursor: str | None) -> Page[DiffItem]:
            page = self.diff(
                actor, owner, name, from_version, to_version, limit=MAX_LIMIT, cursor=cursor
            )
            return Page(page.items, page.next_cursor)

        return every(fetch)

    @staticmethod
    def _changed_rows(
        session: Session,
        dataset_id: int,
        low: int,
        high: int,
        after: tuple[Any, ...] | None,
        size: int,
    ) -> tuple[list[Entry], list[Entry]]:
        def rows(condition: ColumnElement[bool]) -> list[Entry]:
            query = select(Entry).where(Entry.dataset_id == dataset_id, condition)
            if after is not None:
                query = query.where(tuple_(Entry.space, Entry.path) > after)
            query = query.order_by(Entry.space, Entry.path).limit(size + 1)
            return list(session.scalars(query))

        # Live at `low` but closed by `high`; and opened after `low`, still live at `high`.
        ended = rows(and_(Entry.since <= low, Entry.until > low, Entry.until <= high))
        started = rows(
            and_(
                Entry.since > low,
                Entry.since <= high,
                or_(Entry.until.is_(None), Entry.until > high),
            )
        )
        return ended, started


def _merge(
    ended: list[Entry], started: list[Entry], size: int
) -> tuple[list[DiffItem], tuple[str, str] | None, bool]:
    """Merge-join two lists sorted by (space, path), each fetched with ``size + 1`` rows,
    into at most ``size`` diff items. A list that came back full may continue in the
    database, so the merge must not run past its last key: beyond it, rows of that list
    have not been seen yet."""
    truncated = [rows[-1] for rows in (ended, started) if len(rows) > size]
    bound = min(((r.space, r.path) for r in truncated), default=None)
    items: list[DiffItem] = []
    i = j = 0
    last: tuple[str, str] | None = None
    while len(items) < size and (i < len(ended) or j < len(started)):
        a = ended[i] if i < len(ended) else None
        b = started[j] if j < len(started) else None
        key_a = (a.space, a.path) if a is not None else None
        key_b = (b.space, b.path) if b is not None else None
        key = min(k for k in (key_a, key_b) if k is not None)
        if bound is not None and key > bound:
            break
        last = key
        if key_a == key and key_b == key:
            assert a is not None and b is not None
            i += 1
            j += 1
            if not _same_content(a, b):
                items.append(DiffItem("changed", b.kind, b.path, entry_view(a), entry_view(b)))
        elif key_a == key:
            assert a is not None
            i += 1
            items.append(DiffItem("removed", a.kind, a.path, entry_view(a), None))
        else:
            assert b is not None
            j += 1
            items.append(DiffItem("added", b.kind, b.path, None, entry_view(b)))
    more = i < len(ended) or j < len(started) or bool(truncated)
    return items, last, more


def _invert(item: DiffItem) -> DiffItem:
    change = {"added": "removed", "removed": "added"}.get(item.change, item.change)
    return DiffItem(change, item.kind, item.path, item.new, item.old)


def check_key(space: str, key: str, max_path_length: int) -> str:
    """Validate a file path or record id the caller asks for: reads refuse the same bad
    input that writes refuse (traversal, NUL, ...), with the same message."""
    if space == FILES:
        return validate_path(key, max_path_length)
    if space == RECORDS:
        return validate_record_id(key)
    raise Invalid(f"unknown entry space {space!r}")
