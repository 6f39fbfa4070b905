"""What a push changes: the local tree against the dataset's head, as the changes of one
commit, and the bytes the server needs for them.

A local file whose sha256 the head already has at its path, or a symlink with the same
target, is left alone; any other becomes a ``put_file`` or ``put_symlink``. What the head
has and the tree does not is deleted only with ``--delete``, except where it is in the way
of what is pushed: a file where the tree has a folder (``a`` when pushing ``a/b``), or
entries beneath a path that is now a file (``a/b`` when pushing a file ``a``). The server
refuses a commit that leaves a path both a file and a folder, and pushing the tree means
its paths end up as they are locally, so those go in the same commit.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dataloft.cli.tree import LocalFile
from dataloft_client import DeleteFile, Entry, PutFile, PutSymlink

Change = PutFile | PutSymlink | DeleteFile


@dataclass
class Plan:
    """The changes in the order they are sent (deletions first, then puts, each in path
    order), their counts, and for each blob a put names one local file holding it."""

    changes: list[Change] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0
    blobs: dict[str, LocalFile] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.changes)


def plan_push(local: Sequence[LocalFile], remote: Iterable[Entry], *, delete: bool) -> Plan:
    """The commit that makes the head hold ``local`` (every file hashed)."""
    plan = Plan()
    mine = {file.path: file for file in local}
    folders: set[str] = set()
    for path in mine:
        for parent in _parents(path):
            if parent in folders:  # and so are its own parents
                break
            folders.add(parent)
    theirs: dict[str, Entry] = {}
    for entry in remote:
        theirs[entry.path] = entry
        if entry.path in mine:
            continue
        in_the_way = entry.path in folders or any(p in mine for p in _parents(entry.path))
        if delete or in_the_way:
            plan.changes.append(DeleteFile(entry.path))
            plan.removed += 1
    for path, file in mine.items():
        old = theirs.get(path)
        if old is not None and _same(file, old):
            continue
        if file.target is not None:
            plan.changes.append(PutSymlink(path, file.target))
        else:
            assert file.sha256 is not None, f"{path} was not hashed"
            plan.changes.append(PutFile(path, file.sha256))
            plan.blobs.setdefault(file.sha256, file)
        if old is None:
            plan.added += 1
        else:
            plan.changed += 1
    return plan


def _same(file: LocalFile, entry: Entry) -> bool:
    if file.target is not None:
        return entry.kind == "symlink" and entry.target == file.target
    return entry.kind == "file" and entry.sha256 == file.sha256


def _parents(path: str) -> Iterable[str]:
    """``a/b/c`` -> ``a/b``, ``a``."""
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)
