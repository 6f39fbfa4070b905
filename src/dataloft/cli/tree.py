"""The local side of a push: a tree walked into files and symlinks, and the files the
index cannot answer for hashed, in parallel threads (``hashlib`` releases the interpreter
lock while it hashes, and reading releases it too, so threads hash on every core).

Paths are relative to the tree and ``/``-separated, as datasets have them. A symlink is
kept as a symlink when it leads to somewhere inside the tree (an absolute one is made
relative); one that leads out is refused, with its name. Empty folders are not kept
(datasets have no folders of their own), and neither are sockets, pipes and devices
(there are no bytes to keep): they are listed as skipped.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dataloft.cli.index import Hashed, margin_for, now_ns
from dataloft.cli.parallel import in_parallel
from dataloft.cli.progress import Meter

CHUNK = 1 << 20  # 1 MiB reads: few system calls per gigabyte, little memory per thread
# Threads reading and hashing at once: more than the cores, since small files spend most
# of their time in system calls, and a few more than that gains nothing.
HASH_THREADS = min(32, (os.cpu_count() or 1) + 4)
GROUP_BYTES = 4 * 1024 * 1024
GROUP_FILES = 256
# Files at least this large on average are hashed in many threads (see ``hash_files``).
LARGE_AVERAGE = 256 * 1024
# A file read again when its size or mtime changed while it was read, this many times.
READ_ATTEMPTS = 3


class TreeError(Exception):
    """The tree holds something that cannot be pushed: the message says what and why."""


@dataclass(frozen=True)
class LocalFile:
    """A file or symlink of the tree. ``size`` of a symlink is its target's length in
    bytes (as datasets count it); ``sha256`` is filled in by hashing."""

    path: str
    size: int
    mtime_ns: int
    target: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Read:
    """A file just hashed, with its bytes when they were kept (``read_files``)."""

    hashed: Hashed
    data: bytes | None


@dataclass
class Tree:
    root: Path
    files: list[LocalFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # neither file, symlink nor folder


def walk(root: Path, skip: Collection[str] = ()) -> Tree:
    """Every file and symlink under ``root`` (an absolute path), in path order, without
    following symlinks; ``skip`` holds paths (relative, files or folders) to leave out."""
    tree = Tree(root)
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path = prefix + entry.name
                if path in skip:
                    continue
                _check_name(path)
                if entry.is_symlink():
                    tree.files.append(_symlink(root, path, entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((path + "/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    status = entry.stat(follow_symlinks=False)
                    tree.files.append(LocalFile(path, status.st_size, status.st_mtime_ns))
                else:
                    tree.skipped.append(path)
    tree.files.sort(key=lambda file: file.path)
    tree.skipped.sort()
    return tree


def _check_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise TreeError(f"{shown!r}: the name is not UTF-8, which dataset paths are") from None


def _symlink(root: Path, path: str, full: str) -> LocalFile:
    target = str(Path(full).readlink())
    folder = posixpath.dirname(path)
    if Path(target).is_absolute():
        inside = _inside(root, target)
        if inside is None:
            raise TreeError(
                f"symlink {path!r} -> {target!r} leads outside {root}: only links that stay "
                "inside the folder can be pushed"
            )
        target = posixpath.relpath(inside, folder or ".")
    reached = posixpath.normpath(posixpath.join(folder, target))
    if reached == ".." or reached.startswith("../"):
        raise TreeError(
            f"symlink {path!r} -> {target!r} leads outside {root}: only links that stay "
            "inside the folder can be pushed"
        )
    return LocalFile(path, len(target.encode()), os.lstat(full).st_mtime_ns, target=target)


def _inside(root: Path, target: str) -> str | None:
    """An absolute ``target`` as a path relative to ``root``, if it is inside it (``"."``
    for the root itself)."""
    normal = os.path.normpath(target)
    for base in {str(root), os.path.realpath(root)}:
        if normal == base or normal.startswith(base.rstrip(os.sep) + os.sep):
            return Path(os.path.relpath(normal, base)).as_posix()
    return None


def hash_files(root: Path, files: Sequence[LocalFile], meter: Meter) -> Iterator[Hashed]:
    """Hash ``files`` (regular files of the tree at ``root``): ``read_files`` keeping no
    bytes."""
    for read in read_files(root, files, meter):
        yield read.hashed


def read_files(
    root: Path, files: Sequence[LocalFile], meter: Meter, keep_below: int = 0
) -> Iterator[Read]:
    """Hash ``files`` (regular files of the tree at ``root``) in parallel threads, giving
    each as it is done, with its bytes if it holds fewer than ``keep_below`` (a push sends
    those without reading them again); ``meter`` counts the bytes read and the files done.

    Files go to the threads in groups of about ``GROUP_BYTES`` (at most ``GROUP_FILES``):
    handing out 10,000 files of 4 KiB one by one cost 0.9 s of futures and waiting, where
    hashing them all in one thread takes 0.18 s. And small files are hashed by one thread:
    their time is the interpreter's, not hashlib's, so more threads only take the lock
    from each other (those 10,000 files: 0.19 s in one thread, 0.31 s in two, 0.48 s in
    six); large ones by ``HASH_THREADS``, hashlib letting go of the lock."""
    base = os.fspath(root)
    total = sum(file.size for file in files)
    threads = HASH_THREADS if files and total / len(files) >= LARGE_AVERAGE else 1
    for group in in_parallel(
        lambda group: [_hash_one(base, file.path, meter, keep_below) for file in group],
        _groups(files),
        threads,
        "hash",
    ):
        yield from group


def _groups(files: Sequence[LocalFile]) -> Iterator[list[LocalFile]]:
    group: list[LocalFile] = []
    size = 0
    for file in files:
        group.append(file)
        size += file.size
        if size >= GROUP_BYTES or len(group) >= GROUP_FILES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _hash_one(root: str, path: str, meter: Meter, keep_below: int) -> Read:
    """The sha256 of one file, and the ``stat`` it had while it was read: the same before
    and after the read, or the file is read again."""
    full = os.path.join(root, path)  # noqa: PTH118 (``root / path`` took 30 us a file)
    for _ in range(READ_ATTEMPTS):
        checked = now_ns()
        # O_NOFOLLOW: a file replaced by a symlink since the walk is not followed.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with io.FileIO(fd, "rb") as file:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise TreeError(f"{path!r} is no longer a regular file")
            digest, size, data = _digest(file, before.st_size, meter)
            after = os.fstat(fd)
        if size == after.st_size and _same(before, after):
            meter.file_done()
            mtime = after.st_mtime_ns
            hashed = Hashed(path, after.st_size, mtime, digest, checked, margin_for(mtime))
            return Read(hashed, data if data is not None and size < keep_below else None)
    raise TreeError(f"{path!r} kept changing while it was read: push again once it is written")


def _digest(file: io.FileIO, size: int, meter: Meter) -> tuple[str, int, bytes | None]:
    """The file's sha256, how many bytes it held (``size`` is what ``stat`` said), and
    those bytes if they were read in one go."""
    if size <= CHUNK:  # most files: one read, no buffer to manage
        data = file.readall()
        meter.advance(len(data))
        return hashlib.sha256(data).hexdigest(), len(data), data
    digest, buffer = hashlib.sha256(), bytearray(CHUNK)
    view, total = memoryview(buffer), 0
    while count := file.readinto(buffer):
        digest.update(view[:count])
        total += count
        meter.advance(count)
    return digest.hexdigest(), total, None


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
