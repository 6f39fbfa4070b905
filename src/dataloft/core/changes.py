"""What a commit can be asked to do: the changes, their guards, and what a commit returns.

Every face builds these and hands them to ``CommitService.commit``; they carry no behaviour
of their own (validation happens when the commit plans them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dataloft.core.blobs import StoredBlob
from dataloft.core.results import EntryView, VersionView

FILES = "f"
RECORDS = "r"
FOLDERS = "f/"  # only in commit plans: the key space of folder deletions
RECORD_MEDIA_TYPE = "application/cbor"
MAX_ENTRY_METADATA_BYTES = 64 * 1024
MAX_MESSAGE_LENGTH = 10_000


# --- the changes a caller can ask for ---------------------------------------------------------


ANY_ETAG = "*"


@dataclass(frozen=True)
class Guard:
    """Conditions on the current entry: ``if_match`` its sha256 (or ``*``: it exists),
    ``if_none_match``: it does not exist yet."""

    if_match: str | None = None
    if_none_match: bool = False


# Changes share this default: a bulk write of 100,000 records makes no Guard apiece.
NO_GUARD = Guard()


@dataclass(frozen=True)
class PutFile:
    """Create or replace a file with bytes just received (``blob``) or with a blob the
    server already holds (``digest``). ``attachments`` are blobs its metadata refers to
    (a UFDL segmentation layer of an image, say), held as a record's are (``PutRecord``)."""

    path: str
    blob: StoredBlob | None = None
    digest: str | None = None
    media_type: str | None = None
    metadata: dict[str, Any] | None = None
    guard: Guard = NO_GUARD
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class MakeFolder:
    """Keep the folder ``path`` in existence while it is empty, with its (empty) marker
    file: the only way to write a file named ``FOLDER_MARKER``."""

    path: str


@dataclass(frozen=True)
class PutSymlink:
    path: str
    target: str
    metadata: dict[str, Any] | None = None
    guard: Guard = NO_GUARD


@dataclass(frozen=True)
class PutRecord:
    """Create or replace a record. ``attachments`` are the sha256 digests of blobs the
    value refers to: each must be on the server (or arrive with the commit) and stays
    there as long as this version of the record is retained.

    ``encoded`` is the value's canonical CBOR (``values.encode_record``) when the caller
    made it already, as bulk writes do in a worker process, which sends back only these
    bytes: the commit then uses it and ignores ``value``."""

    record_id: str
    value: Any
    metadata: dict[str, Any] | None = None
    guard: Guard = NO_GUARD
    attachments: tuple[str, ...] = ()
    encoded: bytes | None = None


@dataclass(frozen=True)
class DeleteFile:
    path: str
    guard: Guard = NO_GUARD


@dataclass(frozen=True)
class DeleteFolder:
    """Delete every file and symlink under the folder ``path`` (recursively). With
    ``must_be_empty`` the commit fails with ``Conflict`` unless the folder holds nothing but
    its own folder marker: the check happens under the dataset's lock, so no file written
    meanwhile can be deleted by accident."""

    path: str
    must_be_empty: bool = False


@dataclass(frozen=True)
class DeleteRecord:
    record_id: str
    guard: Guard = NO_GUARD
    missing_ok: bool = False  # deleting a record that does not exist changes nothing


Change = PutFile | MakeFolder | PutSymlink | PutRecord | DeleteFile | DeleteFolder | DeleteRecord


@dataclass(frozen=True)
class CommitResult:
    version: VersionView
    # One per change, in order: "added", "changed", "unchanged" or "removed".
    outcomes: list[str]
    # The entry each put produced (None for deletions).
    entries: Sequence[EntryView | None]
    # Files removed by folder deletions, not counting folder markers.
    removed_in_folders: int = 0
