"""``dataloft gc`` as one job: unreferenced blobs, then expired resumable uploads, run by
one process at a time (``db/claims.py``). Two collectors at once would do no harm to the
data (each step is safe online, ``BlobService.collect_garbage``), but twice the work, and
reports that each count half of it: the second is told another is at work instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dataloft.core.blobs import BlobService, GcReport
from dataloft.core.uploads import ReclaimReport, UploadService
from dataloft.db.claims import Claims

CLAIM = "gc"


@dataclass(frozen=True)
class Collected:
    blobs: GcReport
    uploads: ReclaimReport


class GarbageCollector:
    def __init__(self, claims: Claims, blobs: BlobService, uploads: UploadService) -> None:
        self.claims = claims
        self.blobs = blobs
        self.uploads = uploads

    def collect(
        self,
        grace_seconds: float,
        *,
        scan_store: bool = False,
        dry_run: bool = False,
        between_phases: Callable[[], None] | None = None,
    ) -> Collected | None:
        """What was removed; None if another process is collecting (nothing was done).
        A dry run (what would be removed now) changes nothing, so it runs unclaimed."""
        if dry_run:
            return self._collect(grace_seconds, scan_store, True, between_phases)
        with self.claims.hold(CLAIM) as mine:
            if not mine:
                return None
            return self._collect(grace_seconds, scan_store, False, between_phases)

    def _collect(
        self,
        grace_seconds: float,
        scan_store: bool,
        dry_run: bool,
        between_phases: Callable[[], None] | None,
    ) -> Collected:
        blobs = self.blobs.collect_garbage(
            grace_seconds, scan_store=scan_store, dry_run=dry_run, between_phases=between_phases
        )
        return Collected(blobs, self.uploads.reclaim(dry_run=dry_run))
