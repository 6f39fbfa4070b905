"""``dataloft pull OWNER/NAME[@VERSION] DIR``: make a local folder hold a version of a
dataset, fetching only what is not there already.

For each file of the version (listed page by page): a local file of the same size whose
sha256 matches is left as it is (the local index answers for files it has seen, so
checking costs a ``stat``; others are hashed, in parallel threads); any other is
downloaded through the SDK's ``download_file``, several at once: into ``<path>.part``,
continued with a ``Range`` request if a ``.part`` is there already, checked against the
sha256, then renamed over ``<path>``. A file is therefore never seen half-written, and a
pull that is interrupted continues where it stopped. Symlinks are made as symlinks, after
the files. A downloaded file gets the time of the version that introduced its content
as its mtime (as an archive of the version gives it), so the index answers for it at once.

Nothing is written through a local symlink or outside ``DIR``, whatever the server sends:
a path whose folder is a symlink here, or a file that is a folder here, is refused.
Local files the version does not have are left alone, and so are the version's records
(they are not files: see docs/cli.md).
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from dataloft.cli.app import CLIENT_PANEL, app
from dataloft.cli.connect import TokenOption, UrlOption, connect, dataset_ref
from dataloft.cli.index import Hashed, Index, margin_for, now_ns
from dataloft.cli.output import JsonOption, err, fail, line, note, print_json
from dataloft.cli.parallel import in_parallel
from dataloft.cli.progress import Counted, Display, Meter, display, human
from dataloft.cli.tree import LocalFile, TreeError, hash_files
from dataloft_client import Client, DataloftError, Entry, Version

DOWNLOAD_JOBS = 8


@dataclass
class PullReport:
    """What a pull did, as ``--json`` prints it. ``received_bytes`` counts the bytes that
    came over the network (a resumed file's ``.part`` is not counted again)."""

    dataset: str
    version: int
    files: int = 0
    downloaded: int = 0
    resumed: int = 0
    received_bytes: int = 0
    unchanged: int = 0
    hashed: int = 0
    symlinks: int = 0
    records_not_pulled: int = 0


@app.command(rich_help_panel=CLIENT_PANEL)
def pull(
    dataset: Annotated[
        str, typer.Argument(metavar="OWNER/NAME[@VERSION]", help="The dataset and version")
    ],
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", file_okay=False, help="The folder to fill")
    ],
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="Downloads at once")
    ] = DOWNLOAD_JOBS,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Pull a version of a dataset (default: its head; a number or a tag) into a folder.
    Files already there and identical are left alone; interrupted downloads continue."""
    ref = dataset_ref(dataset, version=True)
    with connect(url, token) as client:
        version = _version(client, ref.repo, ref.version)
        directory.mkdir(parents=True, exist_ok=True)
        root = directory.resolve()
        with Index(root) as index, display(err) as shown:
            try:
                report = _pull(client, index, shown, root, ref.repo, version, jobs)
            except TreeError as error:
                fail(str(error))
        if report.records_not_pulled:
            note(
                f"{report.records_not_pulled} records not pulled: records are not files "
                f"(read them with the API, or take the version as an archive)"
            )
    if as_json:
        print_json(vars(report))
    else:
        line(
            f"pulled {report.dataset}@{report.version} into {root}: {report.downloaded} files "
            f"downloaded ({human(report.received_bytes)}), {report.unchanged} already there"
            + (f", {report.resumed} resumed" if report.resumed else "")
            + (f", {report.symlinks} symlinks" if report.symlinks else "")
        )


def _version(client: Client, repo: str, version: int | str | None) -> Version:
    """The version asked for (a number, a tag, or the head), so that every page of the
    listing and every download read that one version by its number."""
    if version is None:
        version = client.get_dataset(repo).version
    return client.get_version(repo, version)


def _pull(
    client: Client,
    index: Index,
    shown: Display,
    root: Path,
    repo: str,
    pulled: Version,
    jobs: int,
) -> PullReport:
    version = pulled.number
    report = PullReport(repo, version, records_not_pulled=pulled.record_count)
    entries = list(client.list_files(repo, version=version))
    report.files = len(entries)
    known = index.known()
    folders = _Folders(root)
    fetch: list[Entry] = []
    check: list[Entry] = []
    links: list[Entry] = []
    for entry in entries:
        local = folders.place(entry.path)
        if entry.kind == "symlink":
            links.append(entry)
            continue
        status = _lstat(local)
        if status is None or not _is_file(status) or status.st_size != entry.size:
            if status is not None and _is_folder(status):
                raise TreeError(f"{entry.path!r} is a folder here, and a file in {repo}")
            fetch.append(entry)
            continue
        row = known.get(entry.path)
        if row is not None and row.answers_for(status.st_size, status.st_mtime_ns):
            if row.sha256 == entry.sha256:
                report.unchanged += 1
            else:
                fetch.append(entry)
        else:
            check.append(entry)
    fetch.extend(_differing(root, check, index, shown, report))
    fetch.sort(key=lambda entry: -entry.size)  # the large ones first: none left to trail
    index.start_partials(entry.path for entry in fetch)
    _download(client, repo, version, root, fetch, index, shown, jobs, report)
    report.symlinks = _make_links(root, links)
    index.end_partials(entry.path for entry in entries)
    return report


def _differing(
    root: Path, entries: list[Entry], index: Index, shown: Display, report: PullReport
) -> list[Entry]:
    """Of local files the index cannot answer for, hashed now, those whose bytes differ
    from the version's."""
    if not entries:
        return []
    wanted = {entry.path: entry for entry in entries}
    local = [LocalFile(entry.path, entry.size, 0) for entry in entries]
    differing: list[Entry] = []
    hashed: list[Hashed] = []
    with shown.phase("checking", "checked", sum(e.size for e in entries), len(entries)) as meter:
        for done in hash_files(root, local, meter):
            hashed.append(done)
            if done.sha256 == wanted[done.path].sha256:
                report.unchanged += 1
            else:
                differing.append(wanted[done.path])
    index.record(hashed)
    report.hashed = len(hashed)
    return differing


def _download(
    client: Client,
    repo: str,
    version: int,
    root: Path,
    entries: list[Entry],
    index: Index,
    shown: Display,
    jobs: int,
    report: PullReport,
) -> None:
    if not entries:
        return
    parts = {entry.path: _part_size(root / entry.path, entry.size) for entry in entries}
    total = sum(entry.size - parts[entry.path] for entry in entries)

    def fetch(entry: Entry, meter: Meter) -> tuple[Hashed, int]:
        dest = root / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        received = Counted(meter, skip=parts[entry.path])
        try:
            info = client.download_file(repo, entry.path, dest, version=version, progress=received)
        except DataloftError as error:  # which file it was, with the reason
            raise DataloftError(f"{entry.path}: {error.message}") from error
        # The mtime the file system stamped tells how fine its times are, and so how far
        # the time set next must be in the past for the index to answer for the file.
        margin = margin_for(dest.stat().st_mtime_ns)
        if info.last_modified is not None:
            mtime = int(info.last_modified.timestamp()) * 1_000_000_000
            os.utime(dest, ns=(now_ns(), mtime), follow_symlinks=False)
        checked = now_ns()
        status = dest.stat(follow_symlinks=False)
        meter.file_done()
        digest = info.sha256 or entry.sha256 or ""
        hashed = Hashed(entry.path, status.st_size, status.st_mtime_ns, digest, checked, margin)
        return hashed, received.passed

    with shown.phase("downloading", "downloaded", total, len(entries)) as meter:
        done: list[Hashed] = []
        try:
            for hashed, received in in_parallel(
                lambda entry: fetch(entry, meter), entries, jobs, "download"
            ):
                done.append(hashed)
                report.received_bytes += received
        finally:
            index.record(done)
    report.downloaded = len(entries)
    report.resumed = sum(1 for size in parts.values() if size)


def _part_size(dest: Path, size: int) -> int:
    """The bytes of ``dest``'s ``.part`` the download will continue from (none if there
    is none, or it is longer than the file)."""
    status = _lstat(dest.with_name(dest.name + ".part"))
    if status is None or not _is_file(status) or status.st_size > size:
        return 0
    return status.st_size


def _make_links(root: Path, links: Iterable[Entry]) -> int:
    """Make the version's symlinks that are not there as they should be; how many."""
    made = 0
    for entry in links:
        assert entry.target is not None
        _check_target(entry)
        local = root / entry.path
        status = _lstat(local)
        is_link = status is not None and stat.S_ISLNK(status.st_mode)
        if is_link and str(local.readlink()) == entry.target:
            continue
        if status is not None and _is_folder(status):
            raise TreeError(f"{entry.path!r} is a folder here, and a symlink in the dataset")
        local.parent.mkdir(parents=True, exist_ok=True)
        # Made beside it and renamed over it: never a moment without the path.
        temporary = local.with_name(f".{local.name}.dataloft-link")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(entry.target)
        temporary.replace(local)
        made += 1
    return made


def _check_target(entry: Entry) -> None:
    """The server keeps links inside the dataset; a client does not take that on trust."""
    assert entry.target is not None
    reached = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), entry.target))
    if entry.target.startswith("/") or reached == ".." or reached.startswith("../"):
        raise TreeError(f"the server sent a symlink leading outside: {entry.path!r}")


class _Folders:
    """Where each path of the version goes under ``root``, checked once per folder: no
    ``..`` or absolute path, no folder that is a symlink here (nothing is written through
    one), no folder that is a file here."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._checked: set[str] = {""}

    def place(self, path: str) -> Path:
        parts = path.split("/")
        if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise TreeError(f"the server sent a path that is not safe to write: {path!r}")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in self._checked:
                continue
            status = _lstat(self._root / folder)
            if status is not None and not _is_folder(status):
                kind = "a symlink" if stat.S_ISLNK(status.st_mode) else "a file"
                raise TreeError(f"{folder!r} is {kind} here, and a folder in the dataset")
            self._checked.add(folder)
        return self._root / path


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _is_file(status: os.stat_result) -> bool:
    return stat.S_ISREG(status.st_mode)


def _is_folder(status: os.stat_result) -> bool:
    return stat.S_ISDIR(status.st_mode)
