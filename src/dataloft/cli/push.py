"""``dataloft push DIR OWNER/NAME``: make a dataset's head hold a local folder, in one
commit, sending only the bytes the server lacks.

The steps, each cheap when there is nothing to do:

1. walk the folder (``tree``) and list the dataset's head;
2. hash, in parallel threads, only the files the local index cannot answer for
   (``index``): an unchanged file costs one ``stat``. Meanwhile, each file hashed whose
   bytes the dataset does not hold goes to the sender (``upload``), which asks the server
   which blobs it lacks (``POST /blobs/missing``) and uploads only those (small files many
   to a request, large ones alone, resumably), several requests at once;
3. read the head again (once the hashing is done; listed again if it moved), and plan
   the changes (``plan``); blobs the plan needs that the hashing did not offer (files the
   index knew) go to the sender too, and it is waited for. Nothing to change is "up to
   date", and no commit;
4. one commit of every change, whose ``parent`` is the head read in step 3: had anyone
   committed since, it is refused (412) and nothing changes.

A push that is interrupted anywhere leaves no commit, and blobs it had uploaded are no
longer missing, so running it again sends none of them twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from dataloft.cli.app import CLIENT_PANEL, app
from dataloft.cli.connect import TokenOption, UrlOption, connect, dataset_ref
from dataloft.cli.index import Hashed, Index, cache_dir
from dataloft.cli.output import JsonOption, err, fail, line, note, print_json
from dataloft.cli.plan import Plan, plan_push
from dataloft.cli.progress import Display, display, files, human
from dataloft.cli.tree import LocalFile, Tree, TreeError, read_files, walk
from dataloft.cli.upload import BATCH_BELOW, Sender
from dataloft_client import Client, Conflict, NotFound, PreconditionFailed
from dataloft_client.config import config_dir

T = TypeVar("T")

# Upload requests at once: enough to keep a server's request handling busy while each
# request waits on its round trip, few enough not to crowd out other clients.
UPLOAD_JOBS = 8
# Rows written to the index per transaction while hashing: a push interrupted in the
# middle of hashing a large tree keeps what it had hashed.
INDEX_BATCH = 2000
# Hashed files handed to the sender at a time.
OFFER_BATCH = 250


@dataclass
class PushReport:
    """What a push did, as ``--json`` prints it."""

    dataset: str
    version: int
    committed: bool = False
    created: bool = False
    files: int = 0
    hashed: int = 0
    hashed_bytes: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)


@app.command(rich_help_panel=CLIENT_PANEL)
def push(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", exists=True, file_okay=False, help="The folder to push"),
    ],
    dataset: Annotated[str, typer.Argument(metavar="OWNER/NAME", help="The dataset")],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="The commit message")
    ] = None,
    delete: Annotated[
        bool,
        typer.Option("--delete", help="Also delete what the dataset has and DIR does not"),
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="Uploads at once")
    ] = UPLOAD_JOBS,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Push a folder to a dataset as one new version (the dataset is made if it does not
    exist). Only changed files are hashed, only bytes the server lacks are sent."""
    ref = dataset_ref(dataset)
    root = directory.resolve()
    with connect(url, token) as client, Index(root) as index, display(err) as shown:
        try:
            report = _push(client, index, shown, root, ref.repo, message, delete, jobs)
        except TreeError as error:
            fail(str(error))
    if as_json:
        print_json(vars(report))
    elif report.committed:
        line(
            f"pushed {root} to {report.dataset}: version {report.version} "
            f"({report.added} added, {report.changed} changed, {report.removed} removed; "
            f"{files(report.uploaded)} uploaded, {human(report.uploaded_bytes)})"
        )
    else:
        line(f"{report.dataset} is up to date (version {report.version})")


def _push(
    client: Client,
    index: Index,
    shown: Display,
    root: Path,
    repo: str,
    message: str | None,
    delete: bool,
    jobs: int,
) -> PushReport:
    tree = walk(root, _own_state(root, index))
    for path in tree.skipped:
        note(f"skipped {path!r}: not a file, folder or symlink")
    # The dataset before the hashing: a wrong name or token fails at once, not after it.
    # Its files' blobs are never asked about: it holds them, so you may name them.
    created, listed = _ensure(client, repo)
    remote = list(client.list_files(repo, version=listed)) if listed else []
    on_server = {entry.sha256 for entry in remote if entry.sha256}
    with Sender(client, root, shown, jobs, on_server) as sender:
        files, hashed = _hashed(root, tree, index, shown, sender)
        # The head after the hashing, which may take minutes: the commit is refused if
        # another lands after this.
        head = client.get_dataset(repo).version
        if head != listed:
            remote = list(client.list_files(repo, version=head))
        plan = plan_push(files, remote, delete=delete)
        # What the hashing did not offer: files the index knew (the same tree pushed to
        # another dataset, say).
        sender.offer(plan.blobs.values())
        sender.finish()
    report = PushReport(repo, head, created=created, files=len(files), skipped=tree.skipped)
    report.hashed, report.hashed_bytes = len(hashed), sum(h.size for h in hashed)
    report.uploaded, report.uploaded_bytes = sender.files, sender.bytes
    if not plan:
        return report
    report.added, report.changed, report.removed = plan.added, plan.changed, plan.removed
    report.version = _commit(client, repo, plan, head, message)
    report.committed = True
    return report


def _own_state(root: Path, index: Index) -> set[str]:
    """Paths in the tree that are the client's own state, never pushed: the ``.part``
    files of a pull into it, and the cache and configuration folders if they are inside
    it (pushing a home folder must not send the login's token)."""
    own = {path + ".part" for path in index.partials()}
    for folder in (cache_dir(), config_dir()):
        try:
            inside = folder.resolve().relative_to(root)
        except ValueError:
            continue
        own.add(inside.as_posix())
    return own


def _hashed(
    root: Path, tree: Tree, index: Index, shown: Display, sender: Sender
) -> tuple[list[LocalFile], list[Hashed]]:
    """The tree's files with their sha256: from the index where it answers for them,
    read and hashed otherwise (the index told, and each offered to ``sender`` as soon as
    it is hashed)."""
    known = index.known()
    files: dict[str, LocalFile] = {}
    unknown: list[LocalFile] = []
    for file in tree.files:
        row = known.get(file.path)
        if file.target is not None:  # a symlink: nothing to hash
            files[file.path] = file
        elif row is not None and row.answers_for(file.size, file.mtime_ns):
            files[file.path] = replace(file, sha256=row.sha256)
        else:
            unknown.append(file)
    present = {file.path for file in tree.files if file.target is None}
    gone = [path for path in known if path not in present]
    hashed: list[Hashed] = []
    if unknown:
        total = sum(file.size for file in unknown)
        with shown.phase("hashing", "hashed", total, len(unknown)) as meter:
            unrecorded: list[Hashed] = []
            reads = read_files(root, unknown, meter, keep_below=BATCH_BELOW)
            for reading in _batches(reads, OFFER_BATCH):
                batch = [read.hashed for read in reading]
                kept = {r.hashed.path: r.data for r in reading if r.data is not None}
                sender.offer([_local(h) for h in batch], kept)
                hashed.extend(batch)
                unrecorded.extend(batch)
                if len(unrecorded) >= INDEX_BATCH:
                    index.record(unrecorded)
                    unrecorded = []
            if unrecorded:
                index.record(unrecorded)
    for h in hashed:
        files[h.path] = _local(h)
    if gone:
        index.record((), gone)
    return sorted(files.values(), key=lambda file: file.path), hashed


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _local(hashed: Hashed) -> LocalFile:
    return LocalFile(hashed.path, hashed.size, hashed.mtime_ns, sha256=hashed.sha256)


def _ensure(client: Client, repo: str) -> tuple[bool, int]:
    """Make the dataset if it does not exist: whether it was made, and its head."""
    try:
        return False, client.get_dataset(repo).version
    except NotFound:
        pass
    owner, name = repo.split("/", 1)
    try:
        made = client.create_dataset(name, owner=owner)
    except Conflict:  # another push made it just now
        return False, client.get_dataset(repo).version
    note(f"created the dataset {made.repo} (private)")
    return True, made.version


def _commit(client: Client, repo: str, plan: Plan, head: int, message: str | None) -> int:
    """One commit of the plan onto ``head``; the version it made."""
    text = message or (
        f"dataloft push: {plan.added} added, {plan.changed} changed, {plan.removed} removed"
    )
    try:
        made = client.commit(repo, plan.changes, message=text, parent=head)
    except PreconditionFailed as error:
        fail(
            f"{repo} changed while this push ran ({error.message}): someone else committed "
            "since it was listed; nothing was committed, run the push again"
        )
    return made.version.number
