"""Symlinks that stay inside their dataset, however they are followed.

A symlink's target is a relative path, taken from the link's folder. Checking each link
alone, lexically, is not enough once a target leads through other links: the kernel takes
``..`` from wherever the path so far leads, not from the name written before it. With
``a/b/c/d/l -> ..``, ``a/b/c/d/l/..`` is ``a/b`` (``l`` leads to ``a/b/c``), so
``esc -> a/b/c/d/l/../../../../../x``, lexically just ``x``, climbs out of the folder an
archive of the version is extracted into.

So a version's links are resolved as a POSIX system resolves them once the archive is
extracted (``LinkResolver``): segment by segment from the link's folder, following every
segment that is itself a link of the version (its own target taken from its own folder),
``..`` from wherever the walk stands, at most ``MAX_HOPS`` links per resolution (Linux's
limit before ``ELOOP``). A link is refused if its walk ever climbs above the dataset's
root, comes back to a link it is resolving, or needs more than ``MAX_HOPS`` links.

Both readings are checked, because an extracted archive may be read either way: each link
alone, lexically, as a system that creates no links (Windows without the privilege, a
tool that normalises paths) or a partial extraction sees it (``validate_symlink_target``,
when a commit is planned); and with every link of the resulting version, as the kernel
sees it (``check_links``, under the commit's lock).

A name that is not a link is taken as a folder, whatever it is (a file, a folder, nothing
yet): a walk through a file or a missing name fails on a real system instead of leaving,
and a folder may be made there later. So only the version's links decide where a walk
goes, which keeps the check cheap: a commit needs it only when it changes the version's
links (adds, retargets or removes one, or deletes a folder holding some), and then reads
only the links (from an index of live symlinks, never the whole tree) and resolves each
once (results are memoised: a chain is walked once, not once per link leading into it).

Links stored before this rule whose chains already leave are refused only when a commit
changes a link their walk looks up: each walk records whether it looked up a path whose
being a link the commit changes; a walk that did not is the same walk as before the
commit, and the commit is not its author's to fix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, literal_column, select
from sqlalchemy.orm import Session

from dataloft.core.changes import FILES
from dataloft.core.errors import Invalid
from dataloft.core.names import has_control
from dataloft.db.models import Entry

if TYPE_CHECKING:
    from dataloft.core.plan import Step

# Linux follows at most 40 links in one path lookup (MAXSYMLINKS) before ELOOP.
MAX_HOPS = 40
# The longest target Linux stores (PATH_MAX less its NUL): a longer one could not be
# extracted there, and the bound keeps every walk short.
TARGET_MAX_BYTES = 4095

OUTSIDE = "points outside the dataset"
LOOPS = "loops back to itself"
TOO_MANY = f"leads through more than {MAX_HOPS} symlinks"


@dataclass(frozen=True)
class Walk:
    """Where a link's target leads, or why it leads nowhere.

    The place reached is ``inside`` (the folders it is in, outermost first, as far as they
    are folders on the way to some link, the only places where a name may be a link; by
    their numbers in ``LinkResolver.paths``) and ``below`` more segments further down,
    where no link can be, so only their number matters."""

    inside: tuple[int, ...]
    below: int
    hops: int  # links followed, this one included
    touched: bool  # the walk is the link's own change, or looked up a changed path
    problem: str | None = None
    via: tuple[tuple[str, str], ...] = ()  # links followed on the way to the problem
    # The problem is the depth of the resolution asking (too many links nested above this
    # one), not this link's own: such a walk is not remembered.
    contextual: bool = False


def validate_symlink_target(link_path: str, target: str) -> str:
    """A target must be a relative path of at most ``TARGET_MAX_BYTES`` that stays inside
    the dataset taken alone, lexically, from the link's folder (other links are checked at
    commit: ``check_links``)."""
    if not target or has_control(target) or target.startswith("/"):
        raise Invalid(f"symlink target {target!r} must be a non-empty relative path")
    if len(target.encode()) > TARGET_MAX_BYTES:
        raise Invalid(f"symlink target is longer than {TARGET_MAX_BYTES} bytes")
    walk = LinkResolver({}).walk(link_path, target)
    if walk.problem is not None:
        raise Invalid(describe(link_path, target, walk))
    return target


def describe(path: str, target: str, walk: Walk) -> str:
    """The message that refuses the link at ``path``: the link, its target, the problem,
    and the links its walk followed to get there."""
    message = f"symlink {path!r} -> {target!r} {walk.problem}"
    if walk.via:
        shown = ", ".join(f"{link!r} -> {to!r}" for link, to in walk.via[:5])
        more = ", ..." if len(walk.via) > 5 else ""
        message += f" (following {shown}{more})"
    return message


class LinkResolver:
    """Resolves the links of one version (``links``: path -> target). ``changed``: the
    paths whose being a link (or whose target) the commit changes, and folders it deletes
    that held links; walks that look one up are ``touched``."""

    def __init__(self, links: Mapping[str, str], changed: Collection[str] = ()) -> None:
        self.links = links
        self.changed = frozenset(changed)
        # Every path a walk may have to name (links, changed paths, and the folders on the
        # way to them: only in those can a name be a link) gets a number, found from its
        # folder's number and its own name. A walk then never builds a path, however deep
        # it goes: its cost is the length of the targets it reads.
        self.paths: list[str] = [""]  # number -> path; 0 is the root
        self._child: dict[tuple[int, str], int] = {}
        self._folders: set[int] = {0}
        for path in chain(links, self.changed):
            node = 0
            for segment in path.split("/"):
                found = self._child.get((node, segment))
                if found is None:
                    found = self._child[node, segment] = len(self.paths)
                    self.paths.append(f"{self.paths[node]}/{segment}" if node else segment)
                    self._folders.add(node)
                node = found
        self._done: dict[str, Walk] = {}
        self._open: list[str] = []  # the links being resolved, outermost first

    @property
    def folders(self) -> frozenset[str]:
        """The folders on the way to links or changed paths (the root excepted)."""
        return frozenset(self.paths[node] for node in self._folders if node)

    def check(self) -> None:
        """Refuse (``Invalid``) the first link, in path order, whose walk is touched by the
        change and fails."""
        for path in sorted(self.links):
            walk = self.resolve(path)
            if walk.problem is not None and walk.touched:
                raise Invalid(describe(path, self.links[path], walk))

    def resolve(self, path: str) -> Walk:
        """The walk of the link at ``path`` (memoised)."""
        done = self._done.get(path)
        if done is not None:
            return done
        if path in self._open:  # every link from there to here leads back to itself
            return Walk((), 0, 1, path in self.changed, LOOPS)
        if len(self._open) > MAX_HOPS:  # nested deeper than MAX_HOPS: the outermost fails
            return Walk((), 0, 1, path in self.changed, TOO_MANY, contextual=True)
        self._open.append(path)
        try:
            walk = self.walk(path, self.links[path])
        finally:
            self._open.pop()
        if not walk.contextual:
            self._done[path] = walk
        return walk

    def walk(self, path: str, target: str) -> Walk:
        """Follow ``target`` from the folder of the link at ``path``."""
        inside: list[int] = []
        below = 0
        hops, touched = 1, path in self.changed
        via: list[tuple[str, str]] = []

        def failed(problem: str, inner: Walk | None = None) -> Walk:
            more = inner.via if inner is not None else ()
            context = inner is not None and inner.contextual
            return Walk((), 0, hops, touched, problem, (*via, *more), context)

        # From the root through the link's folder (which holds no link: nothing is
        # written beneath one), then along the target.
        folder, _, _ = path.rpartition("/")
        for segment in chain(folder.split("/") if folder else (), target.split("/")):
            if segment in ("", "."):
                continue
            if segment == "..":
                if below:
                    below -= 1
                elif inside:
                    inside.pop()
                else:
                    return failed(OUTSIDE)
                continue
            if below:
                below += 1
                continue
            node = self._child.get((inside[-1] if inside else 0, segment))
            if node is None:
                below = 1
                continue
            name = self.paths[node]
            touched = touched or name in self.changed
            leads_to = self.links.get(name)
            if leads_to is None:
                if node in self._folders:
                    inside.append(node)
                else:
                    below = 1
                continue
            inner = self.resolve(name)
            hops += inner.hops
            touched = touched or inner.touched
            via.append((name, leads_to))
            if inner.problem is not None:
                return failed(inner.problem, inner)
            if hops > MAX_HOPS:
                return failed(TOO_MANY)
            inside, below = list(inner.inside), inner.below
        return Walk(tuple(inside), below, hops, touched)


# --- at commit -------------------------------------------------------------------------------


def _live_links(dataset_id: int) -> ColumnElement[bool]:
    """The condition that finds a dataset's live symlinks through ``ix_entries_live_links``
    (a partial index, see ``Entry``). The kind is a literal: a partial index serves only
    a query whose conditions imply its own, and PostgreSQL runs the statements psycopg
    prepares with generic plans, in which a bound parameter implies nothing."""
    return and_(
        Entry.dataset_id == dataset_id,
        Entry.until.is_(None),
        Entry.kind == literal_column("'symlink'"),
    )


def check_links(
    session: Session,
    dataset_id: int,
    steps: Sequence[Step],
    current: Mapping[tuple[str, str], Entry],
    emptied: Collection[str],
) -> None:
    """Refuse a commit after which a link it affects leaves the dataset or loops.

    ``current``: the live rows of the steps' paths; ``emptied``: folders the commit deleted
    (already, in this transaction) that held links. Reads nothing unless the commit
    changes the version's links."""
    changed = set(emptied)
    after: dict[str, str | None] = {}
    for step in steps:
        if step.space != FILES or step.kind == "folder":
            continue
        row = current.get(step.key)
        old = row.target if row is not None and row.kind == "symlink" else None
        new = step.target if not step.delete and step.kind == "symlink" else None
        after[step.path] = new
        if old != new:
            changed.add(step.path)
    if not changed:
        return
    rows = session.execute(select(Entry.path, Entry.target).where(_live_links(dataset_id)))
    links = {path: target for path, target in rows if target and path not in after}
    links.update((path, target) for path, target in after.items() if target is not None)
    LinkResolver(links, changed).check()
