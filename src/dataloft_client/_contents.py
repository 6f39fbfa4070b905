"""Operations on what a dataset holds, one entry at a time: list, read and delete files;
list, read, write and delete records; and commits of many changes at once. (Moving bytes
in bulk, with resumption and progress, is ``_transfer``'s.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from dataloft_client._commands import Listing, Op, Request
from dataloft_client._exceptions import ChecksumMismatch
from dataloft_client._http import (
    JSON,
    Context,
    call,
    dataset_url,
    fields,
    guard_headers,
    json_request,
    path_url,
    read_json,
    segment,
    send,
    version_params,
    write_params,
)
from dataloft_client._paging import pages
from dataloft_client.changes import Change, change_json
from dataloft_client.models import CommitResult, Entry, FileInfo, WriteResult


def file_url(repo: str, path: str) -> str:
    return f"{dataset_url(repo)}/files/{path_url(path)}"


def record_url(repo: str, record_id: str) -> str:
    # An id is a key, not a path: its slashes are escaped with the rest.
    return f"{dataset_url(repo)}/records/{segment(record_id)}"


def etag_digest(response: httpx.Response) -> str | None:
    """The sha256 an ``ETag`` header names (quoted, maybe weak), if there is one."""
    etag: str | None = response.headers.get("etag")
    if etag is None:
        return None
    return etag.strip().removeprefix("W/").strip('"')


def check_digest(url: str, expected: str | None, actual: str) -> None:
    """Raise ``ChecksumMismatch`` unless the bytes that came hash to what was announced."""
    if expected is not None and expected != actual:
        message = f"the bytes of {url} hash to {actual}, not the {expected} announced"
        raise ChecksumMismatch(460, "checksum_mismatch", message, None)


# --- files -----------------------------------------------------------------------------------


def _entries(
    ctx: Context, repo: str, space: str, version: int | str | None, prefix: str | None
) -> Listing[Entry]:
    params = {**version_params(version), **fields(prefix=prefix)}
    url = f"{dataset_url(repo)}/{space}"
    return pages(ctx, Entry.from_json, url, params, pin={"version": "version"})


def list_files(
    ctx: Context, repo: str, version: int | str | None = None, prefix: str | None = None
) -> Listing[Entry]:
    """Files and symlinks at a version (default: the head, as it is when the listing
    starts), in path order. ``prefix`` is a plain string prefix: ``img/`` lists a folder."""
    return _entries(ctx, repo, "files", version, prefix)


def _range(start: int | None, end: int | None) -> str | None:
    """``Range`` for the bytes ``[start, end)``, as a slice says; a negative ``start``
    alone is the last ``-start`` bytes."""
    if start is None and end is None:
        return None
    if start is not None and start < 0:
        if end is not None:
            raise ValueError("a negative start (the last n bytes) takes no end")
        return f"bytes={start}"
    first = start or 0
    if end is None:
        return f"bytes={first}-"
    if end <= first:
        raise ValueError(f"an empty byte range: start {first}, end {end}")
    return f"bytes={first}-{end - 1}"


def read_file(
    ctx: Context,
    repo: str,
    path: str,
    version: int | str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Op[bytes]:
    """The file's bytes, or those from ``start`` to ``end`` (exclusive, as in a slice).
    A whole file is checked against its sha256. For large files, ``download_file`` or
    ``open_file`` stream instead of holding it all."""
    byte_range = _range(start, end)
    headers = {"Range": byte_range} if byte_range else {}
    request = Request("GET", file_url(repo, path), params=version_params(version), headers=headers)
    response = yield from send(ctx, request)
    if response.status_code == 200:
        if byte_range is None:
            actual = hashlib.sha256(response.content).hexdigest()
            check_digest(request.url, etag_digest(response), actual)
        elif start is not None and start < 0:
            return response.content[start:]
        else:
            return response.content[start or 0 : end]
    return response.content


def file_info(path: str, response: httpx.Response) -> FileInfo:
    """What a file's headers say of it."""
    headers = response.headers
    target = headers.get("x-loft-symlink")
    modified: datetime | None = None
    if "last-modified" in headers:
        modified = parsedate_to_datetime(headers["last-modified"])
    media_type = headers.get("content-type")
    return FileInfo(
        path=path,
        kind="file" if target is None else "symlink",
        size=int(headers.get("content-length", "0")),
        sha256=etag_digest(response) if target is None else None,
        media_type=media_type.split(";")[0].strip() if media_type else None,
        version=int(headers["x-loft-version"]) if "x-loft-version" in headers else None,
        last_modified=modified,
        target=target,
    )


def get_file_info(
    ctx: Context, repo: str, path: str, version: int | str | None = None
) -> Op[FileInfo]:
    """A file's size, sha256, media type and the version read, from a ``HEAD``."""
    request = Request("HEAD", file_url(repo, path), params=version_params(version))
    return file_info(path, (yield from send(ctx, request)))


def delete_file(
    ctx: Context,
    repo: str,
    path: str,
    *,
    if_match: str | None = None,
    parent: int | None = None,
    message: str | None = None,
) -> Op[WriteResult]:
    """Remove a file or symlink, as one commit."""
    return _delete(ctx, file_url(repo, path), if_match, parent, message)


def _delete(
    ctx: Context, url: str, if_match: str | None, parent: int | None, message: str | None
) -> Op[WriteResult]:
    headers = guard_headers(if_match, False)
    request = Request("DELETE", url, params=write_params(parent, message), headers=headers)
    return WriteResult.from_json((yield from call(ctx, request)))


# --- records ---------------------------------------------------------------------------------


def list_records(
    ctx: Context, repo: str, version: int | str | None = None, prefix: str | None = None
) -> Listing[Entry]:
    """Records at a version (default: the head), in id order; values not included."""
    return _entries(ctx, repo, "records", version, prefix)


def get_record(
    ctx: Context, repo: str, record_id: str, version: int | str | None = None
) -> Op[Any]:
    """A record's value as JSON, with ``{"type", "data"}`` tags as the server sends them
    (Buffers, Sets, Maps, Dates, ...)."""
    request = Request(
        "GET", record_url(repo, record_id), params=version_params(version), headers={"Accept": JSON}
    )
    return read_json((yield from send(ctx, request)))


def put_record(
    ctx: Context,
    repo: str,
    record_id: str,
    value: Any,
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
    parent: int | None = None,
    message: str | None = None,
) -> Op[WriteResult]:
    """Write one record as one commit. ``value`` is any JSON value, tags allowed."""
    request = json_request(
        "PUT",
        record_url(repo, record_id),
        value,
        write_params(parent, message),
        guard_headers(if_match, if_none_match),
    )
    return WriteResult.from_json((yield from call(ctx, request)))


def delete_record(
    ctx: Context,
    repo: str,
    record_id: str,
    *,
    if_match: str | None = None,
    parent: int | None = None,
    message: str | None = None,
) -> Op[WriteResult]:
    """Remove a record, as one commit."""
    return _delete(ctx, record_url(repo, record_id), if_match, parent, message)


# --- commits ---------------------------------------------------------------------------------


def commit(
    ctx: Context,
    repo: str,
    changes: Iterable[Change | dict[str, Any]],
    *,
    message: str | None = None,
    parent: int | None = None,
) -> Op[CommitResult]:
    """Apply all ``changes`` as one new version, or none of them. ``parent``: fail with
    ``PreconditionFailed`` unless the head is that version."""
    body = {"changes": [change_json(change) for change in changes], **fields(message=message)}
    if parent is not None:
        body["parent"] = parent
    request = json_request("POST", dataset_url(repo) + "/commits", body)
    return CommitResult.from_json((yield from call(ctx, request)))


def metadata_header(metadata: dict[str, Any] | None) -> dict[str, str]:
    """``X-Loft-Metadata``: JSON in ASCII (a header's bytes are Latin-1 on the wire)."""
    if metadata is None:
        return {}
    return {"X-Loft-Metadata": json.dumps(metadata, ensure_ascii=True, allow_nan=False)}
