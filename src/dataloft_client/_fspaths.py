"""How the store looks through fsspec: where a path of ``dataloft://`` points (``locate``),
the info dicts of files, links and folders (folders are made up from the paths of the files
under them, as the API lists a subtree by prefix: ``tree``), and the SDK's errors as the
``OSError`` a filesystem raises. Plain functions, no fsspec: ``fsspec.py`` uses them."""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dataloft_client._exceptions import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
)
from dataloft_client.changes import DeleteFile, PutFile
from dataloft_client.models import Entry, FileInfo
from dataloft_client.refs import parse_ref

Info = dict[str, Any]
# What the filesystem commits.
FileChange = PutFile | DeleteFile


@dataclass(frozen=True)
class Location:
    """Where a path inside a dataset points: the dataset part as it was written (``base``,
    ``alice/birds@v1.0``), the dataset, the version asked for (``None``: the head) and the
    path inside it (``""``: its root)."""

    base: str
    repo: str
    version: int | str | None
    inner: str

    def name(self, inner: str) -> str:
        """The filesystem path of ``inner`` (a path in the same dataset)."""
        return f"{self.base}/{inner}" if inner else self.base


def locate(path: str) -> Location | None:
    """The ``Location`` of a stripped path, or ``None`` above the datasets (``""``,
    ``owner``)."""
    if path.count("/") < 1:
        return None
    ref = parse_ref(path)
    base = "/".join(path.split("/", 2)[:2])
    return Location(base, ref.repo, ref.version, ref.path)


@contextmanager
def os_errors(path: str) -> Iterator[None]:
    """The SDK's errors that say something of a path, as the ``OSError`` a filesystem
    raises (``FileNotFoundError`` for a dataset you may not read too: the server answers
    404, not 403, for it). Others go out as they are."""
    try:
        yield
    except NotFound as error:
        raise FileNotFoundError(errno.ENOENT, error.message, path) from error
    except (Forbidden, Unauthenticated) as error:
        raise PermissionError(errno.EACCES, error.message, path) from error
    except (Conflict, PreconditionFailed) as error:
        # 409: a file where a folder is needed, or the reverse; 412: a create-only write
        # (mode "xb", pipe_file(mode="create")) found the path taken.
        raise FileExistsError(errno.EEXIST, error.message, path) from error


def entry_info(where: Location, version: int, entry: Entry) -> Info:
    """A listed file or symlink as ``ls`` gives it. ``version`` is the version listed;
    ``content_version`` the one in which this content appeared."""
    info: Info = {
        "name": where.name(entry.path),
        "size": entry.size,
        "type": "file" if entry.kind == "file" else "link",
        "sha256": entry.sha256,
        "version": version,
        "content_version": entry.version,
        "media_type": entry.media_type,
        "metadata": entry.metadata,
    }
    if entry.target is not None:
        info["target"] = entry.target
    return info


def head_info(name: str, found: FileInfo) -> Info:
    """What a ``HEAD`` said of a file, as ``info`` gives it."""
    if found.target is not None:
        return {
            "name": name,
            "size": len(found.target.encode()),
            "type": "link",
            "target": found.target,
        }
    return {
        "name": name,
        "size": found.size,
        "type": "file",
        "sha256": found.sha256,
        "version": found.version,
        "media_type": found.media_type,
        "mtime": found.last_modified,
    }


def folder_info(name: str, version: int | None = None) -> Info:
    info: Info = {"name": name, "size": 0, "type": "directory"}
    if version is not None:
        info["version"] = version
    return info


def tree(where: Location, version: int, entries: list[Entry]) -> dict[str, list[Info]]:
    """The listing of ``where`` and of every folder below it, made up from the paths of
    the files under it (``entries``, as the API lists a prefix)."""
    top = where.inner.count("/") + 1 if where.inner else 0
    folders: dict[str, dict[str, Info]] = {where.name(where.inner): {}}
    for entry in entries:
        child = entry_info(where, version, entry)
        parts = entry.path.split("/")
        for depth in range(len(parts) - 1, top - 1, -1):
            parent = where.name("/".join(parts[:depth]))
            children = folders.setdefault(parent, {})
            if child["name"] in children:
                break  # this folder, and so those above it, are known already
            children[child["name"]] = child
            child = folder_info(parent, version)
    return {name: list(children.values()) for name, children in folders.items()}


def link_target(path: str, target: str) -> str:
    """Where the link at ``path`` leads: its target, from the link's folder."""
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if joined == ".." or joined.startswith("../"):
        raise FileNotFoundError(errno.ENOENT, f"the link {path!r} leads out of its dataset")
    return joined


def byte_range(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """``[start, end)`` as a slice of ``size`` bytes means it (negative: from the end)."""
    first = 0 if start is None else (max(0, size + start) if start < 0 else min(start, size))
    last = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
    return first, max(first, last)
