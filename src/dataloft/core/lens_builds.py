"""Building lenses, in the background, incrementally (``docs/lenses.md``).

When is a build due? When a lens's program changed since its records were built, when a
client asked for one (create, configuration), or when an input's head version is past
the one its records reflect. The scheduler looks whenever a commit in this process to a
dataset some lens reads ends (the event log's watchers say which datasets a commit was
about), every ``POLL_SECONDS`` (commits of other processes), and at start-up: a build
that a crash interrupted is simply due again, since nothing it did is recorded as done
until it finished.

A build of one lens:

1. **What changed.** For each input collection whose version the records reflect, the
   core's diff from that version to the head (its cost is the number of changes); for a
   new input, or after a program change, every record. A record input is looked up. A
   record whose hash and program digest match what ``lens_sources`` holds is not mapped
   again; one that vanished has its outputs dropped.
2. **Map** the rest in one sandbox session (``core/lens_sandbox.py``), in batches.
3. **Reduce** only the output ids those records emitted before or emit now: each one's
   values are the stored outputs of every other record plus the new ones, in (source
   path, emission) order, folded by the built-in merge (``core/lens_merge.py``) or the
   lens's ``reduceCode``. An id nothing emits any more is deleted.
4. **One commit** of the lens's dataset: its next version. Then, in a second
   transaction, the cache (``lens_sources``, ``lens_outputs``) and what the records now
   reflect. A crash between the two leaves the cache behind the records; the next build
   then maps those records again and commits the same values: nothing half-built is ever
   visible, and nothing is lost.

Builds of one lens never overlap: the scheduler runs one at a time per lens in a process,
and a build runs under the claim ``lens:<id>`` (``db/claims.py``), so that of several server
processes that find a lens due only one builds it; the others skip it, and their next look
finds it built. Different lenses build concurrently, up to ``concurrency``.

The other processes' commits wake the scheduler as this process's do, on PostgreSQL: the
event log hears of them (``db/notifications.py``). ``POLL_SECONDS`` is the net under that.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from dataloft.core.access import SYSTEM, Action, Principal
from dataloft.core.auth import make_principal
from dataloft.core.browse import BrowseService
from dataloft.core.cbor import encode_record, read_stored
from dataloft.core.changes import RECORDS, DeleteRecord, PutRecord
from dataloft.core.commits import CommitService
from dataloft.core.data_paths import DataPath, parse_data_path
from dataloft.core.datasets import DatasetService, Located
from dataloft.core.errors import LoftError, NotFound, TooLarge
from dataloft.core.events import EventLog
from dataloft.core.lens_merge import merge
from dataloft.core.lens_sandbox import (
    LensProgram,
    LensSession,
    MapInput,
    MapResult,
    ReduceFailed,
    SandboxLimits,
)
from dataloft.db import Database
from dataloft.db.claims import Claims
from dataloft.db.models import Dataset, Lens, LensOutput, LensSource, User, table_of

log = logging.getLogger("dataloft.lenses")

POLL_SECONDS = 2.0
# Input records mapped per sandbox round trip, and changes read per query.
BATCH = 500


@dataclass
class _Plan:
    """What one build does: the records to map, the sources whose outputs go away, the
    input versions it reflects, and whether it rebuilds everything."""

    full: bool
    input_ids: dict[str, int] = field(default_factory=dict)  # input -> its dataset's id
    reflects: dict[str, int] = field(default_factory=dict)
    to_map: dict[str, MapInput] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)  # source path -> record hash
    removed: set[str] = field(default_factory=set)
    public: bool = True  # every input is public


@dataclass(frozen=True)
class _Snapshot:
    lens_id: int
    owner: str
    name: str
    program: LensProgram
    digest: str
    built_digest: str | None
    inputs: list[str]
    reflects: dict[str, int]
    input_ids: dict[str, int]
    wanted: int
    reader: Principal
    public: bool


class LensBuilder:
    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        browse: BrowseService,
        commits: CommitService,
        events: EventLog,
        limits: SandboxLimits,
        claims: Claims,
        *,
        watch_db: Database | None = None,
        concurrency: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        # The scheduler's own queries (what is due) go through a connection of their own:
        # they never wait for, or take, one of the requests'.
        self.watch_db = watch_db or db
        self._inputs: frozenset[int] = frozenset()
        self.datasets = datasets
        self.browse = browse
        self.commits = commits
        self.events = events
        self.limits = limits
        self.claims = claims
        self.clock = clock
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- scheduling ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="lens-build")
        self.events.watch(self._committed)
        self._thread = threading.Thread(target=self._loop, name="lens-scheduler", daemon=True)
        self._thread.start()
        self.wake()

    def stop(self) -> None:
        self.events.unwatch(self._committed)
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            self._running.clear()

    def wake(self) -> None:
        self._wakeup.set()

    def _committed(self, datasets: frozenset[int]) -> None:
        """A commit in this process: a build may be due if it touched an input of a lens
        (as of the last look; a lens made since wakes the builder itself)."""
        if not datasets.isdisjoint(self._inputs):
            self.wake()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.wait(POLL_SECONDS)
            self._wakeup.clear()
            if self._stopping.is_set():
                return
            try:
                self.schedule()
            except Exception:  # the scheduler must outlive a bad moment of the database
                log.exception("looking for lenses to build failed")

    def schedule(self) -> None:
        """Start a build of every due lens that is not building already."""
        for lens_id in self.due():
            with self._lock:
                if lens_id in self._running or self._pool is None:
                    continue
                self._running[lens_id] = self._pool.submit(self._run, lens_id)

    def _run(self, lens_id: int) -> None:
        skipped = False
        try:
            with self.claims.hold(f"lens:{lens_id}") as mine:
                skipped = not mine
                if mine:
                    self.build(lens_id)
        except Exception:
            log.exception("building lens %s failed", lens_id)
        finally:
            with self._lock:
                self._running.pop(lens_id, None)
            # It may be due again: an input moved while it built. Not when another process
            # is building it: looking again at once would find it due, and skip, and look...
            # That process's commit, or the poll, wakes this one.
            if not skipped:
                self.wake()

    def due(self) -> list[int]:
        """The live lenses whose records are behind their program or inputs. It also
        notes which datasets are inputs, so that only commits to those wake it."""
        with self.watch_db.read() as session:
            rows = session.execute(
                select(Lens)
                .join(Dataset, Dataset.id == Lens.dataset_id)
                .where(Dataset.deleted_at.is_(None))
            ).scalars()
            lenses = list(rows)
            found = input_datasets(session, {text for lens in lenses for text in lens.inputs})
        self._inputs = frozenset(dataset_id for dataset_id, _ in found.values())
        heads = {address: head for address, (_, head) in found.items()}
        return [lens.dataset_id for lens in lenses if is_due(lens, heads)]

    def backlog(self) -> tuple[int, int]:
        """``(building, due)``: the lenses building now, in any process (their state says
        so), and those whose records are behind (``due``; the building ones among them),
        for the operator's metrics."""
        with self.watch_db.read() as session:
            building = session.scalar(
                select(func.count())
                .select_from(Lens)
                .join(Dataset, Dataset.id == Lens.dataset_id)
                .where(Lens.state == "building", Dataset.deleted_at.is_(None))
            )
        return building or 0, len(self.due())

    # --- one build -----------------------------------------------------------------------

    def build(self, lens_id: int) -> None:
        snapshot = self._snapshot(lens_id)
        if snapshot is None:
            return
        started = time.perf_counter()
        self._set_state(lens_id, "building", None)
        try:
            plan = self._plan(snapshot)
            with LensSession(snapshot.program, self.limits, int(self.clock() * 1000)) as sandbox:
                results = self._map(sandbox, plan)
                changes, reduced = self._reduce(snapshot, sandbox, plan, results)
            if snapshot.public and not plan.public:
                # An input is not public (any more): neither is this version, nor the lens.
                self.datasets.update(
                    SYSTEM, snapshot.owner, snapshot.name, {"visibility": "private"}
                )
            self.commits.commit(
                SYSTEM,
                snapshot.owner,
                snapshot.name,
                changes,
                message=_message(plan),
                replace_records=plan.full,
                lens_build=True,
            )
        except Exception as error:
            # Marked failed on these inputs, whatever the cause: a build that fails for a
            # bug of ours must not be retried at once, again and again.
            if isinstance(error, LoftError):
                log.warning("lens %s:%s did not build: %s", snapshot.owner, snapshot.name, error)
            else:
                log.exception("building lens %s:%s failed", snapshot.owner, snapshot.name)
            with self.db.read() as session:
                heads = input_heads(session, snapshot.inputs)
            attempted = {text: heads.get(_collection(text), -1) for text in snapshot.inputs}
            self._set_state(
                lens_id, "failed", str(error), done=snapshot.wanted, attempted=attempted
            )
            return
        stats = {
            "mapped": len(plan.to_map),
            "removed": len(plan.removed),
            "reduced": reduced,
            "full": plan.full,
            "seconds": round(time.perf_counter() - started, 3),
            "errors": sum(1 for result in results.values() if result.error is not None),
            "inputIds": plan.input_ids,
        }
        self._record(snapshot, plan, results, stats)

    def _snapshot(self, lens_id: int) -> _Snapshot | None:
        with self.db.read() as session:
            found = session.execute(
                select(Lens, User, Dataset.name, Dataset.visibility)
                .join(Dataset, Dataset.id == Lens.dataset_id)
                .join(User, User.id == Dataset.owner_id)
                .where(Lens.dataset_id == lens_id, Dataset.deleted_at.is_(None))
            ).first()
            if found is None:
                return None
            lens, user, name, visibility = found
            # Asked again, in the snapshot's own read: the scheduler's list of due lenses
            # may predate the build that just caught this one up, and a second build of
            # nothing would replace that build's figures with its own zeros.
            if not is_due(lens, input_heads(session, lens.inputs)):
                return None
            # Inputs are read as the lens's owner: one who can no longer read an input
            # builds as if it were gone.
            reader = make_principal(self.db, user.id, user.username, user.is_admin)
            return _Snapshot(
                lens_id,
                user.username,
                name,
                LensProgram(lens.map_code, lens.reduce_code),
                lens.program_digest,
                lens.built_digest,
                list(lens.inputs),
                dict(lens.reflects),
                dict(lens.last_build.get("inputIds", {})),
                lens.wanted,
                reader,
                visibility == "public",
            )

    def _set_state(
        self,
        lens_id: int,
        state: str,
        error: str | None,
        *,
        done: int | None = None,
        attempted: dict[str, int] | None = None,
    ) -> None:
        with self.db.write() as session:
            lens = session.get(Lens, lens_id, with_for_update=True)
            if lens is None:
                return
            lens.state = state
            lens.error = error
            if done is not None:
                lens.done = done
            if attempted is not None:
                lens.last_build = {**lens.last_build, "attempted": attempted}

    # --- 1. what changed -----------------------------------------------------------------

    def _plan(self, snapshot: _Snapshot) -> _Plan:
        located: dict[str, Located | None] = {}
        for text in snapshot.inputs:
            path = parse_data_path(text)
            try:
                located[text] = self.datasets.locate(
                    snapshot.reader, path.author, path.name, Action.READ
                )
            except NotFound:
                located[text] = None  # gone, or unreadable: its records' outputs go too
        ids = {text: place.row.id for text, place in located.items() if place is not None}
        # Another dataset under an input's address (deleted and made again), or versions
        # that went backwards, cannot be diffed against: everything again.
        moved = any(
            snapshot.input_ids.get(text, place.row.id) != place.row.id
            or snapshot.reflects.get(text, -1) > place.row.head
            for text, place in located.items()
            if place is not None
        )
        full = moved or snapshot.built_digest != snapshot.digest
        full = full or set(snapshot.reflects) != set(snapshot.inputs)
        plan = _Plan(full, input_ids=ids)
        known = self._known(snapshot.lens_id) if full or None in located.values() else {}
        seen: set[str] = set()
        for text, place in located.items():
            path = parse_data_path(text)
            if place is None:
                plan.reflects[text] = -1
                prefix = str(path.collection) + "/records/"
                exact = str(path)
                plan.removed |= {
                    source
                    for source in known
                    if source == exact or (path.record_id is None and source.startswith(prefix))
                }
                continue
            head = place.row.head
            plan.reflects[text] = head
            if path.record_id is not None:
                self._one_record(plan, path, head, seen, snapshot.reader)
            elif full or text not in snapshot.reflects:
                self._every_record(plan, path, head, seen, snapshot.reader)
            else:
                since = snapshot.reflects[text]
                self._changed_records(plan, path, since, head, seen, snapshot.reader)
        plan.public = all(
            place is None or place.row.visibility == "public" for place in located.values()
        )
        if full:
            plan.removed |= set(known) - seen
            # Unchanged records under an unchanged program keep their cached outputs.
            for source, record_hash in list(plan.hashes.items()):
                if known.get(source) == (record_hash, snapshot.digest):
                    del plan.to_map[source]
        else:
            self._skip_unchanged(snapshot, plan)
        plan.removed -= seen
        return plan

    def _known(self, lens_id: int) -> dict[str, tuple[str, str]]:
        """Every input record the lens has mapped: its hash and the program's digest."""
        with self.db.read() as session:
            rows = session.execute(
                select(LensSource.path, LensSource.record_hash, LensSource.program_digest).where(
                    LensSource.lens_id == lens_id
                )
            ).all()
        return {path: (record_hash, digest) for path, record_hash, digest in rows}

    def _skip_unchanged(self, snapshot: _Snapshot, plan: _Plan) -> None:
        """Records changed and changed back, or seen through two inputs, map once."""
        sources = list(plan.to_map)
        with self.db.read() as session:
            for start in range(0, len(sources), BATCH):
                chunk = sources[start : start + BATCH]
                rows = session.execute(
                    select(
                        LensSource.path, LensSource.record_hash, LensSource.program_digest
                    ).where(LensSource.lens_id == snapshot.lens_id, LensSource.path.in_(chunk))
                ).all()
                for path, record_hash, digest in rows:
                    if plan.hashes.get(path) == record_hash and digest == snapshot.digest:
                        del plan.to_map[path]

    def _add(
        self, plan: _Plan, path: DataPath, record_id: str, sha256: str, value: Any, seen: set[str]
    ) -> None:
        source = str(path.collection.record(record_id))
        if source in seen:
            return
        seen.add(source)
        plan.removed.discard(source)
        plan.hashes[source] = sha256
        plan.to_map[source] = MapInput(
            source, path.source, path.author, path.name, record_id, value
        )

    def _every_record(
        self, plan: _Plan, path: DataPath, head: int, seen: set[str], actor: Principal = SYSTEM
    ) -> None:
        _, _, entries = self.browse.iter_contents(
            actor, path.author, path.name, head, space=RECORDS
        )
        for entry, blob, _ in entries:
            if blob is not None and entry.sha256 is not None:
                value = self.browse.record_value(blob)
                self._add(plan, path, entry.path, entry.sha256, value, seen)

    def _changed_records(
        self,
        plan: _Plan,
        path: DataPath,
        since: int,
        head: int,
        seen: set[str],
        actor: Principal = SYSTEM,
    ) -> None:
        if since == head:
            return
        if since < 0:
            self._every_record(plan, path, head, seen, actor)
            return
        for item in self.browse.iter_diff(actor, path.author, path.name, since, head):
            if item.kind != "record":
                continue
            source = str(path.collection.record(item.path))
            if item.change == "removed":
                if source not in seen:
                    plan.removed.add(source)
                continue
            found, value = self.browse.read_record(actor, path.author, path.name, item.path, head)
            sha256 = found.entry.sha256
            assert sha256 is not None
            self._add(plan, path, item.path, sha256, value, seen)

    def _one_record(
        self, plan: _Plan, path: DataPath, head: int, seen: set[str], actor: Principal = SYSTEM
    ) -> None:
        assert path.record_id is not None
        try:
            found, value = self.browse.read_record(
                actor, path.author, path.name, path.record_id, head
            )
        except NotFound:
            source = str(path)
            if source not in seen:
                plan.removed.add(source)
            return
        sha256 = found.entry.sha256
        assert sha256 is not None
        self._add(plan, path, path.record_id, sha256, value, seen)

    # --- a build that keeps nothing ------------------------------------------------------

    def preview(
        self, actor: Principal, inputs: Sequence[DataPath], program: LensProgram, limit: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The logs and records a lens of ``program`` over ``inputs`` would have, built in
        memory as ``actor`` reads the inputs (the ephemeral lens): at most ``limit`` input
        records."""
        plan = _Plan(full=True)
        seen: set[str] = set()
        located = [
            (path, self.datasets.locate(actor, path.author, path.name, Action.READ))
            for path in inputs
        ]
        total = sum(1 if p.record_id else place.row.record_count for p, place in located)
        if total > limit:
            raise TooLarge(
                f"an ephemeral lens maps at most {limit} input records; these inputs hold {total}"
            )
        for path, place in located:
            if path.record_id is not None:
                self._one_record(plan, path, place.row.head, seen, actor)
            else:
                self._every_record(plan, path, place.row.head, seen, actor)
        with LensSession(program, self.limits, int(self.clock() * 1000)) as sandbox:
            results = self._map(sandbox, plan)
            gathered: dict[str, list[Any]] = {}
            order = input_order([str(path) for path in inputs])
            for source in sorted(results, key=order):
                for output_id, value in results[source].outputs:
                    gathered.setdefault(output_id, []).append(value)
            records = []
            for output_id in sorted(gathered):
                values = gathered[output_id]
                try:
                    value = sandbox.reduce(values) if program.reduce_code else merge(values)
                except ReduceFailed:
                    continue
                digest = hashlib.sha256(encode_record(value)).hexdigest()
                records.append({"id": output_id, "hash": digest, "version": 1, "data": value})
        logs = [
            {
                "input": source,
                "path": source,
                "error": result.error if result.error is not None else False,
                "errors": [result.error] if result.error is not None else [],
                "logs": result.logs,
            }
            for source, result in sorted(results.items())
        ]
        return logs, records

    # --- 2. map --------------------------------------------------------------------------

    @staticmethod
    def _map(sandbox: LensSession, plan: _Plan) -> dict[str, MapResult]:
        results: dict[str, MapResult] = {}
        items = list(plan.to_map.values())
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            for item, result in zip(chunk, sandbox.map(chunk), strict=True):
                results[item.path] = result
        return results

    # --- 3. reduce -----------------------------------------------------------------------

    def _reduce(
        self,
        snapshot: _Snapshot,
        sandbox: LensSession,
        plan: _Plan,
        results: dict[str, MapResult],
    ) -> tuple[list[PutRecord | DeleteRecord], int]:
        replaced = set(results) | plan.removed
        order = input_order(snapshot.inputs)
        fresh: dict[str, list[tuple[str, int, Any]]] = {}
        for source, result in results.items():
            for seq, (output_id, value) in enumerate(result.outputs):
                fresh.setdefault(output_id, []).append((source, seq, value))
        with self.db.read() as session:
            affected = set(fresh) | set(_old_outputs(session, snapshot.lens_id, replaced))
            if plan.full:
                affected |= set(_all_outputs(session, snapshot.lens_id))
            changes: list[PutRecord | DeleteRecord] = []
            for output_id, kept in _kept_values(
                session, snapshot.lens_id, sorted(affected), replaced
            ):
                contributions = sorted(
                    kept + fresh.get(output_id, []), key=lambda c: (order(c[0]), c[1])
                )
                if not contributions:
                    changes.append(DeleteRecord(output_id, missing_ok=True))
                    continue
                values = [value for _, _, value in contributions]
                try:
                    reduced = (
                        sandbox.reduce(values) if snapshot.program.reduce_code else merge(values)
                    )
                except ReduceFailed as failure:
                    log.info(
                        "lens %s:%s: reduce of %r failed: %s",
                        snapshot.owner,
                        snapshot.name,
                        output_id,
                        failure.error,
                    )
                    continue
                changes.append(PutRecord(output_id, reduced))
        return changes, len(affected)

    # --- 4. the cache --------------------------------------------------------------------

    def _record(
        self, snapshot: _Snapshot, plan: _Plan, results: dict[str, MapResult], stats: dict[str, Any]
    ) -> None:
        replaced = sorted(set(results) | plan.removed)
        with self.db.write() as session:
            for start in range(0, len(replaced), BATCH):
                chunk = replaced[start : start + BATCH]
                session.execute(
                    delete(LensOutput).where(
                        LensOutput.lens_id == snapshot.lens_id, LensOutput.source.in_(chunk)
                    )
                )
                session.execute(
                    delete(LensSource).where(
                        LensSource.lens_id == snapshot.lens_id, LensSource.path.in_(chunk)
                    )
                )
            sources: list[dict[str, Any]] = []
            outputs: list[dict[str, Any]] = []
            for source, result in results.items():
                sources.append(
                    {
                        "lens_id": snapshot.lens_id,
                        "path": source,
                        "record_hash": plan.hashes[source],
                        "program_digest": snapshot.digest,
                        "log": {
                            "logs": result.logs,
                            "errors": [result.error] if result.error is not None else [],
                        },
                    }
                )
                for seq, (output_id, value) in enumerate(result.outputs):
                    outputs.append(
                        {
                            "lens_id": snapshot.lens_id,
                            "source": source,
                            "seq": seq,
                            "output_id": output_id,
                            "value": encode_record(value),
                        }
                    )
            for rows, table in ((sources, LensSource), (outputs, LensOutput)):
                for start in range(0, len(rows), BATCH):
                    session.execute(table_of(table).insert(), rows[start : start + BATCH])
            lens = session.get(Lens, snapshot.lens_id, with_for_update=True)
            if lens is not None:
                lens.reflects = plan.reflects
                lens.built_digest = snapshot.digest
                lens.done = snapshot.wanted
                lens.state = "ready"
                lens.error = None
                lens.last_build = stats


def _collection(text: str) -> tuple[str, str]:
    path = parse_data_path(text)
    return path.author, path.name


def is_due(lens: Lens, heads: dict[tuple[str, str], int]) -> bool:
    """Whether a lens's records are behind its program or inputs (``heads`` from
    ``input_heads``), or a build was asked for. One that failed on the very inputs it
    has now waits for a change."""
    now = {text: heads.get(_collection(text), -1) for text in lens.inputs}
    if lens.wanted != lens.done:
        return True
    if lens.state == "failed" and lens.last_build.get("attempted") == now:
        return False
    return lens.built_digest != lens.program_digest or lens.reflects != now


def input_datasets(
    session: Session, inputs: Iterable[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Each live input collection's dataset id and head version, by address."""
    wanted = {_collection(text) for text in inputs}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.username, Dataset.name, Dataset.id, Dataset.head)
        .join(User, User.id == Dataset.owner_id)
        .where(tuple_(User.username, Dataset.name).in_(list(wanted)))
        .where(Dataset.deleted_at.is_(None))
    ).all()
    return {(owner, name): (dataset_id, head) for owner, name, dataset_id, head in rows}


def input_heads(session: Session, inputs: Iterable[str]) -> dict[tuple[str, str], int]:
    """Each live input collection's head version."""
    return {address: head for address, (_, head) in input_datasets(session, inputs).items()}


def _old_outputs(session: Session, lens_id: int, sources: Iterable[str]) -> Iterator[str]:
    chunk_source = sorted(sources)
    for start in range(0, len(chunk_source), BATCH):
        yield from session.scalars(
            select(LensOutput.output_id).where(
                LensOutput.lens_id == lens_id,
                LensOutput.source.in_(chunk_source[start : start + BATCH]),
            )
        )


def _all_outputs(session: Session, lens_id: int) -> Iterator[str]:
    yield from session.scalars(
        select(LensOutput.output_id).where(LensOutput.lens_id == lens_id).distinct()
    )


def _kept_values(
    session: Session, lens_id: int, output_ids: Sequence[str], replaced: set[str]
) -> Iterator[tuple[str, list[tuple[str, int, Any]]]]:
    """For each output id, the stored outputs of sources this build does not replace."""
    for start in range(0, len(output_ids), BATCH):
        chunk = output_ids[start : start + BATCH]
        found: dict[str, list[tuple[str, int, Any]]] = {output_id: [] for output_id in chunk}
        rows = session.execute(
            select(LensOutput.output_id, LensOutput.source, LensOutput.seq, LensOutput.value).where(
                LensOutput.lens_id == lens_id, LensOutput.output_id.in_(chunk)
            )
        ).all()
        for output_id, source, seq, value in rows:
            if source not in replaced:
                found[output_id].append((source, seq, read_stored(value)))
        yield from found.items()


def input_order(inputs: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    """The order a reduce folds an output id's values in: by input, as the lens lists
    them, then by record id (the source path within an input)."""
    place = {text: index for index, text in enumerate(inputs)}

    def key(source: str) -> tuple[int, str]:
        if source in place:  # an input that names this one record
            return place[source], source
        collection = source.rsplit("/records/", 1)[0]
        return place.get(collection, len(place)), source

    return key


def _message(plan: _Plan) -> str:
    reflected = ", ".join(f"{text}@{version}" for text, version in sorted(plan.reflects.items()))
    return f"lens build ({'full' if plan.full else 'incremental'}): {reflected}"[:1000]
