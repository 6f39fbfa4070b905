"""The operator commands that look after a server's data as a whole: ``fsck`` (does the
blob store hold what the database says?), ``export`` and ``import`` (a whole server to a
directory and back, to move it or back it up).

Like the other operator commands (``cli/admin.py``, whose helpers these use) they read
the server's ``DATALOFT_*`` settings and import the server's code inside the commands.
The work is in the core (``core/fsck.py``, ``core/server_export.py``,
``core/server_import.py``); these only show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dataloft.cli.admin import DataDir, _loft, _reported, _settings
from dataloft.cli.app import ADMIN_PANEL, app
from dataloft.cli.output import err, line, note, usage_error
from dataloft.cli.progress import display

if TYPE_CHECKING:
    from dataloft.core.fsck import Finding, FsckReport
    from dataloft.storage import BlobStore

Jobs = Annotated[
    int, typer.Option("--jobs", "-j", min=1, max=64, help="Blobs read (and hashed) at once")
]


def _other_store(url: str, option: str) -> BlobStore:
    """A blob store named on the command line (a backup's), checked as the settings' is."""
    from dataloft.storage.factory import BlobConfigError, check_blob_url, open_blob_store

    try:
        check_blob_url(url)
    except BlobConfigError as error:
        usage_error(str(error), option)
    return open_blob_store(url)


@app.command("fsck", rich_help_panel=ADMIN_PANEL)
def fsck(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Delete old orphans; restore missing and corrupt blobs from --from, "
            "or mark them lost so that clients upload them again",
        ),
    ] = False,
    from_url: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="BLOB_URL",
            help="With --repair: a blob store to restore from (a backup, or an export's "
            "file:///DIR/blobs)",
        ),
    ] = None,
    jobs: Jobs = 4,
    grace_hours: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Objects without a row younger than this are uploads in progress "
            "[default: $DATALOFT_GC_GRACE_SECONDS, 24 hours]",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Check that every blob is in the store (or its row) whole, hashing to its name, and
    list objects with no row. Exit status 0 when clean, 1 when it found problems.
    Changes nothing without --repair. Safe while serving."""
    from dataloft.core.fsck import Fsck, stored_totals

    if from_url is not None and not repair:
        usage_error("restoring from another store needs --repair", "--from")
    settings = _settings(data_dir)
    backup = _other_store(from_url, "--from") if from_url is not None else None
    grace = settings.gc_grace_seconds if grace_hours is None else grace_hours * 3600
    with _loft(settings) as loft, _reported():
        count, size = stored_totals(loft.db)
        with display(err) as shown, shown.phase("checking", "checked", size, count) as meter:
            checker = Fsck(loft.db, loft.blobs, grace_seconds=grace, jobs=jobs, meter=meter)
            report = checker.run(repair=repair, backup=backup)
    for finding in report.findings:
        _show_finding(finding)
    _summarise(report, repair)
    raise typer.Exit(0 if report.clean else 1)


def _show_finding(finding: Finding) -> None:
    if finding.kind == "corrupt":
        where = "in its database row" if finding.inline else "in the store"
        line(f"corrupt {finding.digest} ({where}: {finding.why})")
    else:
        line(f"{finding.kind} {finding.digest} ({finding.size} bytes)")
    for reference in finding.references:
        line(f"  used by {reference}")
    if finding.more_references:
        line("  used by more")
    if finding.kind != "orphan" and not finding.references:
        line("  used by nothing (garbage collection will remove it)")
    if finding.repaired:
        line(f"  repair: {finding.repaired}")


def _summarise(report: FsckReport, repair: bool) -> None:
    counts = {kind: 0 for kind in ("missing", "corrupt", "orphan")}
    for finding in report.findings:
        counts[finding.kind] += 1
    line(
        f"checked {report.stored_checked} stored blobs ({report.stored_bytes} bytes) and "
        f"{report.inline_checked} inline blobs: {counts['missing']} missing, "
        f"{counts['corrupt']} corrupt, {counts['orphan']} orphans"
    )
    if report.recent_orphans:
        note(
            f"{report.recent_orphans} stored objects without a row are younger than the "
            "grace period (uploads in progress): left alone"
        )
    if report.marks_cleared:
        line(f"{report.marks_cleared} blobs marked lost are sound again: marks cleared")
    if report.marked_lost:
        line(f"{report.marked_lost} blobs are marked lost until someone uploads them again")
    if report.findings and not repair:
        note("nothing was changed; --repair fixes what it can (see 'dataloft fsck --help')")


ExportDir = Annotated[Path, typer.Argument(metavar="DIR", help="The export's directory")]


@app.command("export", rich_help_panel=ADMIN_PANEL)
def export(directory: ExportDir, jobs: Jobs = 4, data_dir: DataDir = None) -> None:
    """Write the whole server (every table, every blob) into a new directory DIR, for
    'dataloft import' on another server or as a portable backup. Safe while serving (one
    consistent snapshot); do not run 'dataloft gc' meanwhile."""
    from dataloft.core.server_export import ServerExport, summary

    with _loft(_settings(data_dir)) as loft, _reported():
        export = ServerExport(loft.db, loft.store, directory, jobs=jobs)
        export.prepare()
        manifest = export.write_rows()
        note(f"rows written: {sum(manifest.tables.values())} in {len(manifest.tables)} tables")
        with (
            display(err) as shown,
            shown.phase("copying", "copied", manifest.blob_bytes, manifest.blob_count) as meter,
        ):
            export.copy_blobs(manifest, meter)
        export.finish(manifest)
    line(f"exported {summary(manifest)} to {directory}")


@app.command("import", rich_help_panel=ADMIN_PANEL)
def import_(directory: ExportDir, jobs: Jobs = 4, data_dir: DataDir = None) -> None:
    """Load an export into this server's database and blob store (DATALOFT_DATABASE_URL,
    DATALOFT_BLOB_URL), which must be empty: blobs first, each verified, then every row
    in one transaction."""
    from dataloft.core.server_export import summary
    from dataloft.core.server_import import ServerImport

    with _loft(_settings(data_dir)) as loft, _reported():
        importer = ServerImport(loft.db, loft.store, directory, jobs=jobs)
        manifest = importer.check()
        with (
            display(err) as shown,
            shown.phase("copying", "copied", manifest.blob_bytes, manifest.blob_count) as meter,
        ):
            importer.copy_blobs(meter)
        try:
            importer.insert_rows(manifest)
        except Exception:
            note(
                "no row was imported (the transaction rolled back); the blobs copied are in "
                "the store without rows: run the import again once the cause is fixed"
            )
            raise
    line(f"imported {summary(manifest)} from {directory}")


__all__ = ["export", "fsck", "import_"]
