"""The data client's reading commands, and tags: ``ls``, ``log``, ``diff``, ``cat``,
``tag``, ``tags``.

Each prints plain lines on stdout, one per item, as the listing's pages arrive (nothing is
held whole, so a listing of a million files starts at once and pipes into ``grep``), or
with ``--json`` one JSON document: an array of the API's own objects for listings.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import typer

from dataloft.cli.app import CLIENT_PANEL, app
from dataloft.cli.connect import (
    TokenOption,
    UrlOption,
    connect,
    dataset_ref,
    version_argument,
)
from dataloft.cli.output import JsonOption, fail, line, print_json, show, usage_error
from dataloft.cli.progress import human
from dataloft_client import Dataset, DiffItem, Entry, PreconditionFailed, Tag, Version

RefArgument = Annotated[str, typer.Argument(metavar="OWNER/NAME", help="The dataset")]


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


@app.command(rich_help_panel=CLIENT_PANEL)
def ls(
    what: Annotated[
        str | None,
        typer.Argument(
            metavar="[OWNER[/NAME[@VERSION][/PREFIX]]]",
            help="A dataset (its files), or an owner (their datasets); nothing: every "
            "dataset you may read",
        ),
    ] = None,
    records: Annotated[
        bool, typer.Option("--records", help="List the records instead of the files")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List a dataset's files (size, sha256, path) at a version, or datasets."""
    if what is None or "/" not in what:
        if records:
            usage_error("--records lists a dataset's records: name the dataset")
        _list_datasets(what, as_json, url, token)
        return
    ref = dataset_ref(what, version=True, path=True)
    with connect(url, token) as client:
        listing = client.list_records if records else client.list_files
        show(listing(ref.repo, version=ref.version, prefix=ref.path or None), as_json, _entry_line)


def _entry_line(entry: Entry) -> str:
    digest = entry.sha256[:12] if entry.sha256 else "-"
    name = entry.path if entry.target is None else f"{entry.path} -> {entry.target}"
    return f"{entry.size:>12}  {digest:<12}  {name}"


def _list_datasets(owner: str | None, as_json: bool, url: str | None, token: str | None) -> None:
    with connect(url, token) as client:
        show(client.list_datasets(owner=owner), as_json, _dataset_line)


def _dataset_line(dataset: Dataset) -> str:
    return (
        f"{dataset.repo}  v{dataset.version}  {dataset.file_count} files  "
        f"{dataset.record_count} records  {human(dataset.total_bytes)}  {dataset.visibility}"
    )


@app.command(rich_help_panel=CLIENT_PANEL)
def log(
    dataset: RefArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """A dataset's versions, newest first, with their tags."""
    ref = dataset_ref(dataset)
    with connect(url, token) as client:
        tags: dict[int, list[str]] = {}
        for tag in client.list_tags(ref.repo):
            tags.setdefault(tag.version, []).append(tag.name)

        def text(version: Version) -> str:
            named = tags.get(version.number)
            return (
                f"v{version.number}  {_when(version.created)}  {version.author or '-'}  "
                f"+{version.added} ~{version.changed} -{version.removed}  {version.message}"
                + (f"  [{', '.join(named)}]" if named else "")
            )

        def data(version: Version) -> dict[str, Any]:
            return {**version.raw, "tags": tags.get(version.number, [])}

        show(client.list_versions(ref.repo), as_json, text, data)


CHANGE_LETTERS = {"added": "A", "changed": "M", "removed": "D"}


@app.command(rich_help_panel=CLIENT_PANEL)
def diff(
    dataset: RefArgument,
    from_version: Annotated[str, typer.Argument(metavar="A", help="From this version or tag")],
    to_version: Annotated[
        str | None,
        typer.Argument(metavar="[B]", help="To this version or tag [default: the head]"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """What changed between two versions: A (added), M (changed), D (removed), files
    first, then records."""
    ref = dataset_ref(dataset)
    start = version_argument(from_version)
    end = version_argument(to_version) if to_version is not None else None
    with connect(url, token) as client:
        show(client.diff(ref.repo, start, end), as_json, _diff_line)


def _diff_line(item: DiffItem) -> str:
    letter = CHANGE_LETTERS.get(item.change, "?")
    side = item.new or item.old
    if item.kind == "record":
        return f"{letter}  [record] {item.path}"
    if side is not None and side.target is not None:
        return f"{letter}  {item.path} -> {side.target}"
    return f"{letter}  {item.path}"


@app.command(rich_help_panel=CLIENT_PANEL)
def cat(
    file: Annotated[
        str, typer.Argument(metavar="OWNER/NAME[@VERSION]/PATH", help="The file to read")
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print what the server says of the file (size, sha256, media type, "
            "version) as JSON, instead of its bytes",
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Write a file's bytes to stdout, as they arrive."""
    ref = dataset_ref(file, version=True, path=True)
    if not ref.path:
        usage_error(f"{file!r} names no file: OWNER/NAME[@VERSION]/PATH")
    with connect(url, token) as client:
        if as_json:
            info = client.get_file_info(ref.repo, ref.path, version=ref.version)
            print_json(_plain(asdict(info)))
            return
        out = sys.stdout.buffer
        with client.open_file(ref.repo, ref.path, version=ref.version) as stream:
            for chunk in stream.iter_bytes():
                out.write(chunk)
        out.flush()


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


@app.command(rich_help_panel=CLIENT_PANEL)
def tag(
    dataset: RefArgument,
    name: Annotated[str, typer.Argument(metavar="TAG", help="The tag's name, e.g. v1.0")],
    version: Annotated[
        int | None,
        typer.Argument(metavar="[VERSION]", min=0, help="The version [default: the head]"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Move the tag if it names another version")
    ] = False,
    delete: Annotated[bool, typer.Option("--delete", "-d", help="Delete the tag")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Name a version of a dataset (or move, or delete, the name)."""
    ref = dataset_ref(dataset)
    if delete and (version is not None or force):
        usage_error("--delete takes no VERSION and no --force")
    with connect(url, token) as client:
        if delete:
            client.delete_tag(ref.repo, name)
            if as_json:
                print_json({"dataset": ref.repo, "tag": name, "deleted": True})
            else:
                line(f"deleted the tag {name} of {ref.repo}")
            return
        number = client.get_dataset(ref.repo).version if version is None else version
        if force:
            made = client.move_tag(ref.repo, name, number)
        else:
            try:
                made = client.create_tag(ref.repo, name, number)
            except PreconditionFailed:
                held = client.get_tag(ref.repo, name)
                fail(
                    f"{ref.repo} has a tag {name} already, at version {held.version} "
                    "(--force moves it)"
                )
        if as_json:
            print_json(made.raw)
        else:
            line(f"{ref.repo}@{made.name} is version {made.version}")


@app.command(rich_help_panel=CLIENT_PANEL)
def tags(
    dataset: RefArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """A dataset's tags, by name, with the version each names."""
    ref = dataset_ref(dataset)
    with connect(url, token) as client:
        show(client.list_tags(ref.repo), as_json, _tag_line)


def _tag_line(made: Tag) -> str:
    return f"{made.name}  v{made.version}  {made.author or '-'}  {_when(made.updated)}"
