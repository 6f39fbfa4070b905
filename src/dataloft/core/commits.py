"""Commits: every write to a dataset's contents is one atomic commit making version N+1.

A commit carries any number of changes (files, symlinks, records, deletions, per-entry
metadata). Its cost is proportional to the number of changes, never to the size of the
dataset: it touches only the entry rows of the paths it changes, closing the rows it
replaces (``until = N+1``) and opening new ones (``since = N+1``).

Everything that can be checked or stored before taking the dataset's write lock is (see
``dataloft.core.plan``): record values are encoded and stored, paths validated. Then one
transaction locks the dataset,
checks the caller's preconditions (parent version, ETags), checks that the file tree stays a
tree (no file where a folder is needed and vice versa; nothing beneath a symlink), checks
that no symlink the commit affects leaves the dataset (``dataloft.core.symlinks``: a commit
that changes symlinks also reads the dataset's symlinks, and only those) and applies the
changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.blobs import BlobService, StoredBlob
from dataloft.core.changes import (
    ANY_ETAG,
    FILES,
    MAX_MESSAGE_LENGTH,
    RECORDS,
    Change,
    CommitResult,
)
from dataloft.core.datasets import DatasetRow, DatasetService, Located
from dataloft.core.errors import (
    Conflict,
    Forbidden,
    Invalid,
    MissingBlobs,
    NotFound,
    PreconditionFailed,
    TooLarge,
)
from dataloft.core.events import EventLog
from dataloft.core.names import (
    FOLDER_MARKER,
    ancestors,
    check_text,
    prefix_upper_bound,
)
from dataloft.core.plan import Planner, Step
from dataloft.core.possession import possessed, possessed_sizes, record_uploads
from dataloft.core.results import EntryView, VersionView
from dataloft.core.symlinks import check_links
from dataloft.db import Database
from dataloft.db.batches import batches, in_key_order, insert_batched
from dataloft.db.engine import after_commit
from dataloft.db.membership import among
from dataloft.db.models import Entry, EntryAttachment, Lens, Version, table_of
from dataloft.db.types import utcnow


def entry_view(row: Entry) -> EntryView:
    return EntryView(
        kind=row.kind,
        path=row.path,
        size=row.size,
        sha256=row.digest,
        media_type=row.media_type,
        version=row.since,
        metadata=row.meta,
        target=row.target,
    )


_ENTRIES = table_of(Entry)
# Entries a commit writes at least, for PostgreSQL's statistics of them to be gathered at
# once after it (``db/statistics.py``): a load that big can mislead the planner until then.
REFRESH_STATISTICS_AFTER = 5_000


def _new_entry_view(values: dict[str, Any]) -> EntryView:
    """The view of a row about to be inserted, made from its values (an ORM ``Entry`` per
    row would cost a bulk write of 100,000 records a second of instrumentation)."""
    return EntryView(
        kind=values["kind"],
        path=values["path"],
        size=values["size"],
        sha256=values["digest"],
        media_type=values["media_type"],
        version=values["since"],
        metadata=values["metadata"],
        target=values["target"],
    )


class _Produced(Sequence[EntryView | None]):
    """The entry each change produced, in order: a view of a current row, the values of a
    row the commit inserted, made a view only when asked for, or None. Bulk writes ask
    for none of their views (10,000 of them took 16 ms of a commit of 10,000 records);
    a single write asks for one."""

    def __init__(self, items: list[EntryView | dict[str, Any] | None]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> EntryView | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[EntryView | None]: ...

    def __getitem__(self, index: int | slice) -> EntryView | list[EntryView | None] | None:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        item = self._items[index]
        return _new_entry_view(item) if isinstance(item, dict) else item


def _by_digest(values: dict[str, Any]) -> str:
    return values["digest"] or ""  # a symlink has none


class CommitService:
    def __init__(
        self,
        db: Database,
        events: EventLog,
        blobs: BlobService,
        datasets: DatasetService,
        *,
        max_changes: int,
        max_record_size: int,
        max_path_length: int,
    ) -> None:
        self.db = db
        self.events = events
        self.blobs = blobs
        self.datasets = datasets
        self.max_changes = max_changes
        self.planner = Planner(
            blobs, max_record_size=max_record_size, max_path_length=max_path_length
        )
        self._hooks: list[Callable[[], None]] = []

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once per version this process commits, after its transaction
        commits (the server's metrics count them, ``api/metrics.py``). A hook already
        there is not added again. It runs in the committing thread: it must be quick and
        must not raise."""
        if hook not in self._hooks:
            self._hooks.append(hook)

    def _committed(self) -> None:
        for hook in self._hooks:
            hook()

    def commit(
        self,
        actor: Principal,
        owner: str,
        name: str,
        changes: Sequence[Change],
        *,
        parent: int | None = None,
        message: str = "",
        replace_records: bool = False,
        uploads: Sequence[StoredBlob] = (),
        dataset_changes: Mapping[str, Any] | None = None,
        lens_build: bool = False,
    ) -> CommitResult:
        """Apply ``changes`` as version N+1. ``replace_records`` also deletes every record
        this commit does not write (a whole-collection overwrite). ``uploads`` are blobs
        received with the commit that its attachments may name; they are
        registered in its transaction. ``dataset_changes`` (fields of the dataset, as for
        ``DatasetService.update``) are made in the same transaction: a new description
        that is a version of its own, say, is both or neither. A lens's records are
        written by its builds alone (``lens_build``; ``core/lens_builds.py``)."""
        if len(changes) > self.max_changes:
            raise TooLarge(f"a commit may hold at most {self.max_changes} changes")
        check_text(message, "message", MAX_MESSAGE_LENGTH)
        needed = self.datasets.action_for(dataset_changes) if dataset_changes else Action.WRITE
        steps, sent, values = self.planner.plan(changes)
        with self.db.write() as session:
            located = self.datasets.locate(actor, owner, name, needed, lock=True)
            if not lens_build and changes and _is_lens(session, located.row.id):
                raise Forbidden(f"{located.address} is a lens: its records are made by its builds")
            if dataset_changes:
                located = self.datasets.apply_update(session, actor, located, dataset_changes)
            head = located.row.head
            if parent is not None and parent != head:
                raise PreconditionFailed(
                    f"dataset {located.address} is at version {head}, not {parent}"
                )
            received = [*sent, *uploads]
            self.blobs.register(session, [*received, *values])
            # The record values need no row of their own: their entries, in versions the
            # actor made, are what makes them the actor's (``dataloft.core.possession``).
            record_uploads(session, actor, (blob.digest for blob in received))
            self._fill_sizes(session, actor, steps)
            self._claim_attachments(session, actor, steps)
            current = self._current_rows(session, located.row, [s.key for s in steps])
            self._check_guards(steps, current, head)
            self._check_tree(session, located.row.id, steps, current)
            removal = self._delete_folders(session, located.row.id, head, steps)
            check_links(session, located.row.id, steps, current, removal.emptied)
            if replace_records:
                self._delete_other_records(session, located.row.id, head, steps, removal)
            result = self._apply(session, actor, located, steps, current, message, removal)
        if self.db.statistics is not None and len(steps) >= REFRESH_STATISTICS_AFTER:
            self.db.statistics.soon(Entry.__tablename__)  # db/statistics.py says why
        return result

    # --- under the lock --------------------------------------------------------------------

    def _fill_sizes(self, session: Session, actor: Principal, steps: list[Step]) -> None:
        """Files that reference an earlier upload by digest: the blob must exist and the
        actor possess it (``dataloft.core.possession``); one they do not is as unknown as
        one the server never had."""
        wanted = [s for s in steps if s.kind == "file" and not s.delete and s.size < 0]
        if not wanted:
            return
        # Held until the entries are in: a collector must not take a row found here.
        self.blobs.hold(session, [s.digest or "" for s in wanted])
        sizes = possessed_sizes(session, actor, (s.digest or "" for s in wanted))
        for step in wanted:
            size = sizes.get(step.digest or "")
            if size is None:
                raise Invalid(
                    f"unknown blob {step.digest} for {step.path!r}: upload it first with "
                    f"PUT /loft/v1/blobs/{step.digest}"
                )
            step.size = size

    def _claim_attachments(self, session: Session, actor: Principal, steps: list[Step]) -> None:
        """Every attachment must be a blob the server holds and the actor possesses (sent
        with this commit, or before, or readable elsewhere); the others count as missing,
        whether or not the server has them. Claiming marks them as used in this
        transaction, so garbage collection cannot take one before the references are
        committed (it re-checks a row this transaction changed)."""
        wanted = list(dict.fromkeys(d for s in steps for d in s.attachments))
        if not wanted:
            return
        held = self.blobs.claim(session, possessed(session, actor, wanted))
        missing = [digest for digest in wanted if digest not in held]
        if missing:
            raise MissingBlobs(
                f"{len(missing)} attachment(s) are not on the server; upload them first: "
                + ", ".join(missing[:10])
                + (", ..." if len(missing) > 10 else ""),
                missing,
            )

    @staticmethod
    def _current_attachments(
        session: Session, steps: list[Step], current: dict[tuple[str, str], Entry]
    ) -> dict[int, frozenset[str]]:
        """The attachments of the current rows that puts of the same content may leave
        unchanged (records' and files' alike: a file's metadata may link blobs too)."""
        if not current:  # a new dataset's records, say: no step to walk
            return {}
        ids = [
            row.id
            for step in steps
            if step.kind in ("record", "file") and not step.delete
            for row in [current.get(step.key)]
            if row is not None and row.digest == step.digest
        ]
        found: dict[int, set[str]] = {}
        for chunk in batches(ids):
            rows = session.execute(
                select(EntryAttachment.entry_id, EntryAttachment.digest).where(
                    among(EntryAttachment.entry_id, chunk)
                )
            )
            for entry_id, digest in rows:
                found.setdefault(entry_id, set()).add(digest)
        return {entry_id: frozenset(digests) for entry_id, digests in found.items()}

    @staticmethod
    def _current_rows(
        session: Session, dataset: DatasetRow, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], Entry]:
        """The live rows at ``keys``. A space the dataset has no live rows in (the records
        of a new dataset, say) is not searched: its count, kept in the same transactions as
        the rows, says so (a bulk write of 10,000 records into a new dataset spent 20 ms
        finding none)."""
        found: dict[tuple[str, str], Entry] = {}
        live = {FILES: dataset.file_count, RECORDS: dataset.record_count}
        for space in (FILES, RECORDS):
            if not live[space]:
                continue
            paths = [path for s, path in keys if s == space]
            for chunk in batches(paths):
                rows = session.scalars(
                    select(Entry).where(
                        Entry.dataset_id == dataset.id,
                        Entry.space == space,
                        among(Entry.path, chunk),
                        Entry.until.is_(None),
                    )
                )
                found.update({(row.space, row.path): row for row in rows})
        return found

    @staticmethod
    def _check_guards(steps: list[Step], current: dict[tuple[str, str], Entry], head: int) -> None:
        for step in steps:
            if step.kind == "folder":
                continue  # checked when it is applied: see _delete_folders
            row = current.get(step.key)
            noun = "record" if step.space == RECORDS else "path"
            if step.guard.if_none_match and row is not None:
                raise PreconditionFailed(f"{noun} {step.path!r} already exists")
            expected = step.guard.if_match
            if expected is not None and (row is None or expected not in (ANY_ETAG, row.digest)):
                raise PreconditionFailed(f"{noun} {step.path!r} does not have the expected ETag")
            if step.delete and row is None and not step.missing_ok:
                raise NotFound(f"{noun} {step.path!r} does not exist at version {head}")

    @staticmethod
    def _check_tree(
        session: Session,
        dataset_id: int,
        steps: list[Step],
        current: dict[tuple[str, str], Entry],
    ) -> None:
        """Files and folders must not collide: no file may sit where another file's path
        needs a folder (``a`` vs ``a/b``), within the commit or against the dataset. A
        symlink is a file here: nothing is written beneath one (``l/x`` through ``l``), so
        a path names the same entry with or without following links."""
        file_steps = [s for s in steps if s.space == FILES and s.kind != "folder"]
        deleted = {s.path for s in file_steps if s.delete}
        written = {s.path: s.kind for s in file_steps if not s.delete}
        new_paths = [p for p in written if (FILES, p) not in current]
        if not new_paths:
            return
        folders = {a for p in new_paths for a in ancestors(p)}
        clash = folders & written.keys()
        if clash:
            name = min(clash)
            raise Conflict(f"{name!r} cannot be both a {written[name]} and a folder in one commit")
        # A dataset with no file yet (a Pbench tarball's first commit) has nothing to clash
        # with: one query instead of one per new path (a 10,000-member upload: 6.4 to 1.5 s).
        holds_files = session.execute(
            select(Entry.id)
            .where(Entry.dataset_id == dataset_id, Entry.space == FILES, Entry.until.is_(None))
            .limit(1)
        ).first()
        if holds_files is None:
            return
        for chunk in batches(sorted(folders - deleted)):
            existing = session.execute(
                select(Entry.path, Entry.kind)
                .where(
                    Entry.dataset_id == dataset_id,
                    Entry.space == FILES,
                    Entry.until.is_(None),
                    among(Entry.path, chunk),
                )
                .limit(1)
            ).first()
            if existing is not None:
                path, kind = existing
                raise Conflict(f"{path!r} is a {kind}, so it cannot also be a folder")
        gone = sorted(deleted)
        for path in new_paths:
            lower = path + "/"
            condition = files_under(dataset_id, lower)
            upper = prefix_upper_bound(lower)
            going = bisect.bisect_left(gone, upper or "\U0010ffff\U0010ffff") - bisect.bisect_left(
                gone, lower
            )
            inside = session.scalars(select(Entry.path).where(condition).limit(going + 1)).all()
            if any(p not in deleted for p in inside):
                raise Conflict(f"{path!r} is a folder, so it cannot also be a {written[path]}")

    @staticmethod
    def _delete_folders(
        session: Session, dataset_id: int, head: int, steps: list[Step]
    ) -> _Removal:
        """Close every live row under each deleted folder: one aggregate and one UPDATE per
        folder, whatever the number of files in it."""
        removal = _Removal()
        for step in steps:
            if step.kind != "folder":
                continue
            inside = files_under(dataset_id, step.path + "/")
            rows, size, markers, links = session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(Entry.size), 0),
                    func.count().filter(Entry.path.endswith("/" + FOLDER_MARKER)),
                    func.count().filter(Entry.kind == "symlink"),
                ).where(inside)
            ).one()
            if rows == 0:
                raise NotFound(f"folder {step.path!r} does not exist at version {head}")
            own_marker = step.path + "/" + FOLDER_MARKER
            if step.must_be_empty:
                other = session.scalar(
                    select(Entry.path).where(inside, Entry.path != own_marker).limit(1)
                )
                if other is not None:
                    raise Conflict(f"folder {step.path!r} is not empty")
            session.execute(update(Entry).where(inside).values(until=head + 1))
            removal.rows += rows
            removal.bytes += size
            removal.files += rows - markers
            if links:
                removal.emptied.append(step.path)
        return removal

    @staticmethod
    def _delete_other_records(
        session: Session, dataset_id: int, head: int, steps: list[Step], removal: _Removal
    ) -> None:
        """Close every live record the commit does not write. Reads the ids of all of them:
        replacing a whole collection costs its size, whatever the number of changes."""
        kept = {s.path for s in steps if s.space == RECORDS}
        rows = session.execute(
            select(Entry.id, Entry.path, Entry.size).where(
                Entry.dataset_id == dataset_id, Entry.space == RECORDS, Entry.until.is_(None)
            )
        ).all()
        doomed = [(row_id, size) for row_id, path, size in rows if path not in kept]
        for chunk in batches([row_id for row_id, _ in doomed]):
            session.execute(update(Entry).where(among(Entry.id, chunk)).values(until=head + 1))
        removal.records += len(doomed)
        removal.bytes += sum(size for _, size in doomed)

    def _apply(
        self,
        session: Session,
        actor: Principal,
        located: Located,
        steps: list[Step],
        current: dict[tuple[str, str], Entry],
        message: str,
        removal: _Removal,
    ) -> CommitResult:
        dataset = located.row
        number = dataset.head + 1
        close_ids: list[int] = []
        new_rows: list[dict[str, Any]] = []
        attached: dict[tuple[str, str], tuple[str, ...]] = {}  # key -> its new row's attachments
        held = self._current_attachments(session, steps, current)
        outcomes: list[str] = []
        produced: list[EntryView | dict[str, Any] | None] = []
        delta = {FILES: -removal.rows, RECORDS: -removal.records, "bytes": -removal.bytes}
        for step in steps:
            if step.kind == "folder":  # already applied
                outcomes.append("removed")
                produced.append(None)
                continue
            row = current.get(step.key)
            if step.delete:
                if row is None:  # missing_ok: nothing to delete
                    outcomes.append("unchanged")
                    produced.append(None)
                    continue
                close_ids.append(row.id)
                outcomes.append("removed")
                produced.append(None)
                delta[step.space] -= 1
                delta["bytes"] -= row.size
                continue
            if row is not None and step.same_content(row, held):
                outcomes.append("unchanged")
                produced.append(entry_view(row))
                continue
            if row is not None:
                close_ids.append(row.id)
                delta["bytes"] -= row.size
                delta[step.space] -= 1
            values = {
                "dataset_id": dataset.id,
                "space": step.space,
                "path": step.path,
                "kind": step.kind,
                "since": number,
                "until": None,
                "digest": step.digest,
                "size": step.size,
                "media_type": step.media_type,
                "metadata": step.metadata,  # the column behind Entry.meta
                "target": step.target,
            }
            new_rows.append(values)
            if step.attachments:
                attached[step.key] = step.attachments
            outcomes.append("changed" if row is not None else "added")
            produced.append(values)
            delta[step.space] += 1
            delta["bytes"] += step.size
        for chunk in batches(close_ids):
            session.execute(update(Entry).where(among(Entry.id, chunk)).values(until=number))
        self._insert_rows(session, new_rows, attached)
        removed = outcomes.count("removed") - sum(s.kind == "folder" for s in steps)
        result = self._record_version(
            session,
            actor,
            located,
            number,
            message,
            outcomes,
            _Produced(produced),
            delta,
            removed + removal.rows + removal.records,
        )
        return replace(result, removed_in_folders=removal.files)

    @staticmethod
    def _insert_rows(
        session: Session,
        new_rows: list[dict[str, Any]],
        attached: dict[tuple[str, str], tuple[str, ...]],
    ) -> None:
        """Insert the new entry rows, batched. Rows with attachments come back with their
        ids, which their attachment rows need; the others need no RETURNING."""
        # In digest order, as ``insert_ignore`` inserts blobs: the digest index and the
        # foreign key's look-ups in ``blobs`` then move forward through their pages instead
        # of jumping about (the entry rows of a bulk write of 10,000 records took a quarter
        # less SQLite time so). Nothing reads entries in the order of their ids.
        linking = [v for v in new_rows if (v["space"], v["path"]) in attached] if attached else []
        plain = in_key_order(
            [v for v in new_rows if (v["space"], v["path"]) not in attached]
            if linking
            else new_rows,
            _by_digest,
        )
        # Plain parameter lists on the driver (see ``insert_batched``): the ORM's bulk
        # path would spend more on each row's bookkeeping than the database spends
        # storing it.
        insert_batched(session, _ENTRIES, plain)
        if not linking:
            return
        returning = insert(_ENTRIES).returning(
            _ENTRIES.c.id, _ENTRIES.c.space, _ENTRIES.c.path, sort_by_parameter_order=True
        )
        ids = [row for batch in batches(linking) for row in session.execute(returning, batch)]
        links = [
            {"entry_id": entry_id, "digest": digest}
            for entry_id, space, path in ids
            for digest in attached[(space, path)]
        ]
        insert_batched(session, table_of(EntryAttachment), links)

    def _record_version(
        self,
        session: Session,
        actor: Principal,
        located: Located,
        number: int,
        message: str,
        outcomes: list[str],
        produced: Sequence[EntryView | None],
        delta: dict[str, int],
        removed: int,
    ) -> CommitResult:
        dataset = located.row
        parent = dataset.head
        self.datasets.save(
            session,
            located,
            head=number,
            file_count=dataset.file_count + delta[FILES],
            record_count=dataset.record_count + delta[RECORDS],
            total_bytes=dataset.total_bytes + delta["bytes"],
            updated=utcnow(),
        )
        version = Version(
            dataset_id=dataset.id,
            number=number,
            parent=parent,
            author_id=actor.user_id,
            message=message,
            created=dataset.updated,
            added=outcomes.count("added"),
            changed=outcomes.count("changed"),
            removed=removed,
            file_count=dataset.file_count,
            record_count=dataset.record_count,
            total_bytes=dataset.total_bytes,
        )
        session.add(version)
        session.flush()
        view = version_view(version, actor.username)
        self.events.append(
            session,
            "commit",
            {
                "dataset": located.address,
                "uid": dataset.uid,
                "version": number,
                "parent": parent,
                "author": actor.username,
                "message": message,
                "added": view.added,
                "changed": view.changed,
                "removed": view.removed,
            },
            dataset_id=dataset.id,
            actor_id=actor.user_id,
            version=number,
        )
        if self._hooks:
            after_commit(session, "commits.hooks", self._committed)
        return CommitResult(view, outcomes, produced)


@dataclass
class _Removal:
    """What went beyond the commit's own changes: folder contents, replaced records."""

    rows: int = 0  # file entries closed
    bytes: int = 0
    files: int = 0  # file entries closed that are not folder markers
    records: int = 0  # record entries closed
    emptied: list[str] = field(default_factory=list)  # deleted folders that held symlinks


def _is_lens(session: Session, dataset_id: int) -> bool:
    return session.get(Lens, dataset_id) is not None


def path_range(
    prefix: str, after: str | None = None, *, inclusive: bool = False
) -> ColumnElement[bool]:
    """Paths that start with ``prefix`` and come after ``after`` (or at it, ``inclusive``),
    as ONE lower and one upper bound: given two lower bounds, SQLite seeks the index with
    one and filters with the other, which can mean scanning from the start of the folder."""
    if after is None or after < prefix:
        lower = Entry.path >= prefix
    else:
        lower = Entry.path >= after if inclusive else Entry.path > after
    upper = prefix_upper_bound(prefix) if prefix else None
    return lower if upper is None else and_(lower, Entry.path < upper)


def live_at(version: int, head: int, entries: Any = Entry) -> ColumnElement[bool]:
    """Entries live at ``version``; ``entries`` is the ORM class or the table's columns
    (``table_of(Entry).c``), which have the same names."""
    if version == head:
        return entries.until.is_(None)  # type: ignore[no-any-return]
    return live_in(version, entries)


def live_in(version: int | ColumnElement[int], entries: Any = Entry) -> ColumnElement[bool]:
    """Entries live at ``version`` by their rows' lifetimes, whether or not it is the head
    (``version`` may be a bound parameter, for a statement compiled once)."""
    return and_(entries.since <= version, or_(entries.until.is_(None), entries.until > version))


def live_files(
    dataset_id: int | ColumnElement[int], alive: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """A dataset's file-space rows, live at the head unless ``alive`` says which
    (``live_at``)."""
    return and_(
        Entry.dataset_id == dataset_id,
        Entry.space == FILES,
        Entry.until.is_(None) if alive is None else alive,
    )


def files_under(
    dataset_id: int,
    prefix: str,
    after: str | None = None,
    *,
    inclusive: bool = False,
    alive: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """File-space rows whose path starts with ``prefix`` (see ``path_range``), live at
    the head unless ``alive`` says which (``live_at``): an index range scan."""
    return and_(live_files(dataset_id, alive), path_range(prefix, after, inclusive=inclusive))


def version_view(version: Version, author: str | None) -> VersionView:
    return VersionView(
        number=version.number,
        parent=version.parent,
        author=author,
        message=version.message,
        created=version.created,
        added=version.added,
        changed=version.changed,
        removed=version.removed,
        file_count=version.file_count,
        record_count=version.record_count,
        total_bytes=version.total_bytes,
    )
