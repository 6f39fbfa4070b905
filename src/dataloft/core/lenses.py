"""Lenses: derived datasets whose records a JavaScript ``map`` (and a reduce) makes from the
records of their inputs (Pigeon Optics' lenses, ``docs/lenses.md``).

A lens is a core dataset (owner, name, versions, records) with a ``lenses`` row beside it
holding its program, its inputs and how far its records have caught up. Only its builds
write its records (``core/lens_builds.py``; the commit service refuses every other
writer). Lenses share the owner's namespace with datasets, as in Pigeon Optics. A lens
is public, as everything there is, unless one of its inputs is not: then it is private
(and a build that finds an input gone private makes it so before it commits), and its
builds read the inputs as its owner, so that a lens never shows anyone more than its
inputs would.

This module keeps the configuration: its parsing (``inputs`` as a list or one
newline-separated string, ``code`` or ``mapCode``, ``reduceCode``), its checks (every input
exists and is readable, no lens reads itself through a chain, the code compiles), and the
lens's status as clients see it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataloft.core.access import Action, Principal
from dataloft.core.data_paths import DataPath, parse_data_path
from dataloft.core.datasets import DatasetService, Located, check_description
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.lens_builds import LensBuilder, input_datasets, input_heads, is_due
from dataloft.core.lens_sandbox import LensProgram, SandboxLimits, check_program
from dataloft.core.names import validate_dataset_name
from dataloft.core.results import DatasetView
from dataloft.db import Database
from dataloft.db.models import Dataset, Lens, LensSource, User

MAX_INPUTS = 100
# The original's lensCodeSize was 5 MB; its config bodies were held to 3 MiB.
MAX_CODE_LENGTH = 3 * 1024 * 1024
# An ephemeral lens needs no login and keeps nothing: its inputs may hold at most this many
# records, so that anyone's Test button cannot map a whole large public dataset.
EPHEMERAL_RECORDS = 10_000
_INTERNAL = ("inputIds", "attempted")


@dataclass(frozen=True)
class LensConfig:
    memo: str
    inputs: tuple[DataPath, ...]
    map_code: str
    reduce_code: str | None

    @property
    def program(self) -> LensProgram:
        return LensProgram(self.map_code, self.reduce_code)


def _code(body: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = body.get(key)
        if value is None or value == "":  # an empty form field is no code
            continue
        if not isinstance(value, str):
            raise Invalid(f"{key} must be a string of JavaScript")
        if len(value) > MAX_CODE_LENGTH:
            raise Invalid(f"{key} is longer than {MAX_CODE_LENGTH} characters")
        return value
    return None


def parse_config(body: Any) -> LensConfig:
    """A lens configuration from a request body (create, configuration, ephemeral)."""
    if not isinstance(body, Mapping):
        raise Invalid('expected {"inputs": [...], "code": "...", "memo": "..."}')
    map_type = body.get("mapType", "javascript")
    if map_type != "javascript":
        raise Invalid(f"mapType {map_type!r} is not supported: only 'javascript'")
    memo = body.get("memo", "")
    if not isinstance(memo, str):
        raise Invalid("memo must be a string")
    raw = body.get("inputs", [])
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines() if line.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise Invalid("inputs must be a list of data paths, or one per line")
    if not raw:
        raise Invalid("a lens needs at least one input")
    if len(raw) > MAX_INPUTS:
        raise Invalid(f"a lens may have at most {MAX_INPUTS} inputs")
    inputs = tuple(dict.fromkeys(parse_data_path(item) for item in raw))
    map_code = _code(body, "code", "mapCode")
    if map_code is None:
        raise Invalid("a lens needs its map code (code or mapCode)")
    reduce_code = _code(body, "reduceCode")
    return LensConfig(check_description(memo), inputs, map_code, reduce_code or None)


@dataclass(frozen=True)
class LensView:
    """A lens as clients see it: the dataset, its configuration and its build status."""

    dataset: DatasetView
    memo: str
    inputs: list[str]
    map_code: str
    reduce_code: str | None
    state: str  # "pending", "building", "ready" or "failed"
    error: str | None
    reflects: dict[str, int]  # input -> the input version the records reflect
    pending: bool  # a build is due (an input moved, or the program changed)
    last_build: dict[str, Any]

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pending": self.pending,
            "error": self.error,
            "inputVersions": self.reflects,
            # What the builder keeps for itself (dataset ids, a failed attempt's inputs)
            # is not the client's.
            "lastBuild": {k: v for k, v in self.last_build.items() if k not in _INTERNAL},
        }


def _view(located: Located, lens: Lens, pending: bool) -> LensView:
    dataset = located.view()
    return LensView(
        dataset,
        dataset.description,
        list(lens.inputs),
        lens.map_code,
        lens.reduce_code,
        lens.state,
        lens.error,
        dict(lens.reflects),
        pending,
        dict(lens.last_build),
    )


class LensService:
    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        limits: SandboxLimits,
        builder: LensBuilder,
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.limits = limits
        self.builder = builder

    # --- reading -------------------------------------------------------------------------

    def get(self, actor: Principal, owner: str, name: str) -> LensView:
        located = self.datasets.locate(actor, owner, name, Action.READ)
        with self.db.read() as session:
            lens = session.get(Lens, located.row.id)
            if lens is None:
                raise NotFound(f"lens {owner}:{name} not found")
            pending = is_due(lens, input_heads(session, lens.inputs))
            session.expunge(lens)
        return _view(located, lens, pending)

    def is_lens(self, dataset_id: int) -> bool:
        with self.db.read() as session:
            return session.get(Lens, dataset_id) is not None

    def ids(self) -> set[int]:
        """The dataset ids of every lens."""
        with self.db.read() as session:
            return set(session.scalars(select(Lens.dataset_id)))

    def names(self, actor: Principal, author: str | None = None) -> dict[str, list[str]]:
        """Names of the lenses the caller may read, by author, in name order."""
        ids = self.ids()
        found: dict[str, list[str]] = {}
        for dataset in self.datasets.iter_datasets(actor, owner=author, by_name=True):
            if dataset.id in ids:
                found.setdefault(dataset.owner, []).append(dataset.name)
        return dict(sorted(found.items()))

    def logs(self, actor: Principal, owner: str, name: str) -> Iterator[dict[str, Any]]:
        """One entry per input record the last build mapped, in path order."""
        view = self.get(actor, owner, name)
        with self.db.read() as session:
            rows = session.execute(
                select(LensSource.path, LensSource.log)
                .where(LensSource.lens_id == view.dataset.id)
                .order_by(LensSource.path)
            ).all()
        for path, log in rows:
            yield {"path": path, "input": path, **log}

    # --- writing -------------------------------------------------------------------------

    def create(self, actor: Principal, name: str, config: LensConfig) -> LensView:
        """A new lens of the caller's, built in the background: public if its inputs
        are."""
        if actor.username is None:
            raise Unauthenticated("log in to create lenses")
        validate_dataset_name(name, self.datasets.max_name_length)
        # Public, as Pigeon Optics' lenses are, unless an input is not: a lens never shows
        # more people what its inputs hold than the inputs do.
        public = self._check(actor, None, config)
        program = config.program
        with self.db.write() as session:
            owner_row = session.scalar(select(User).where(User.username == actor.username))
            if owner_row is None:
                raise NotFound(f"user {actor.username!r} not found")
            row = Dataset(
                uid=secrets.token_hex(16),
                owner_id=owner_row.id,
                name=name,
                description=config.memo,
                visibility="public" if public else "private",
                head=0,
            )
            located = self.datasets.insert(session, actor, row, actor.username)
            lens = Lens(
                dataset_id=located.row.id,
                map_code=config.map_code,
                reduce_code=config.reduce_code,
                inputs=[str(path) for path in config.inputs],
                program_digest=program.digest(),
                built_digest=None,
                reflects={},
                state="pending",
                error=None,
                wanted=1,
                done=0,
                last_build={},
            )
            session.add(lens)
            session.flush()
            view = _view(located, lens, True)
        self.builder.wake()
        return view

    def require_writer(self, actor: Principal, owner: str, name: str) -> None:
        """That the lens exists and ``actor`` may configure it (``Unauthenticated``,
        ``Forbidden`` or ``NotFound`` otherwise)."""
        if actor.is_anonymous:
            raise Unauthenticated("log in to configure lenses")
        self.get(actor, owner, name)
        self.datasets.locate(actor, owner, name, Action.WRITE)

    def configure(self, actor: Principal, owner: str, name: str, config: LensConfig) -> None:
        """New inputs, code or memo; the next build maps everything again if the program
        or the inputs changed."""
        located = self.datasets.locate(actor, owner, name, Action.WRITE)
        self._check(actor, located.row.id, config)
        with self.db.write() as session:
            lens = session.get(Lens, located.row.id, with_for_update=True)
            if lens is None:
                raise NotFound(f"lens {owner}:{name} not found")
            lens.map_code = config.map_code
            lens.reduce_code = config.reduce_code
            lens.inputs = [str(path) for path in config.inputs]
            lens.program_digest = config.program.digest()
            lens.wanted += 1
            lens.state = "pending"
        if config.memo != located.row.description:
            self.datasets.update(actor, owner, name, {"description": config.memo})
        self.builder.wake()

    def delete(self, actor: Principal, owner: str, name: str) -> None:
        self.get(actor, owner, name)  # a lens, not a dataset of that name
        self.datasets.delete(actor, owner, name)

    def preview(
        self, actor: Principal, config: LensConfig
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ephemeral lens: ``config`` built once, in memory, over inputs the caller
        may read; nothing is kept."""
        self._check(actor, None, config)
        return self.builder.preview(actor, config.inputs, config.program, EPHEMERAL_RECORDS)

    # --- checks --------------------------------------------------------------------------

    def _check(self, actor: Principal, lens_id: int | None, config: LensConfig) -> bool:
        """Checks the configuration; True if every input is public."""
        public = True
        for path in config.inputs:
            public = self._check_input(actor, lens_id, path) and public
        check_program(config.program, self.limits)
        return public

    def _check_input(self, actor: Principal, lens_id: int | None, path: DataPath) -> bool:
        """The input exists, the caller may read it, it is of the kind its path says, and
        reading it would not make the lens read itself."""
        missing = Invalid(f"{path} doesn’t exist")  # noqa: RUF001 (the original's words)
        collection = path.collection
        try:
            located = self.datasets.locate(actor, collection.author, collection.name, Action.READ)
        except NotFound:
            raise missing from None
        with self.db.read() as session:
            lens = session.get(Lens, located.row.id)
            if (lens is not None) != (path.source == "lenses"):
                raise missing
            if lens_id is not None and self._reaches(session, located.row.id, lens_id):
                raise Invalid(f"{path} reads this lens: lenses may not form a cycle")
        return located.row.visibility == "public"

    def _reaches(self, session: Session, start: int, target: int) -> bool:
        """Whether the dataset ``start`` is ``target`` or a lens that reads it, through
        any chain of lenses."""
        seen: set[int] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if current == target:
                return True
            if current in seen:
                continue
            seen.add(current)
            lens = session.get(Lens, current)
            if lens is None:
                continue
            # One query for all of a lens's inputs (the builder's own lookup).
            todo.extend(
                dataset_id for dataset_id, _ in input_datasets(session, lens.inputs).values()
            )
        return False
