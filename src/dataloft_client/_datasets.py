"""Operations on datasets and their history: create, read, change, delete and restore
datasets; list and read versions; diff two versions."""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Unpack

from dataloft_client import _accounts
from dataloft_client._commands import Listing, Op, Request
from dataloft_client._exceptions import Conflict
from dataloft_client._http import (
    Context,
    call,
    dataset_url,
    fields,
    json_request,
    segment,
    send,
    version_value,
)
from dataloft_client._paging import pages
from dataloft_client.models import Dataset, DiffItem, Version

Visibility = Literal["private", "public"]


class DatasetUpdate(TypedDict, total=False):
    """What ``update_dataset`` may change; ``licence=None`` and ``project=None`` clear.
    ``metadata`` is a JSON merge patch: ``None`` values remove keys."""

    name: str
    description: str
    tags: list[str]
    visibility: Visibility
    licence: str | int | None
    project: str | None
    metadata: dict[str, Any]


def list_datasets(
    ctx: Context,
    *,
    owner: str | None = None,
    q: str | None = None,
    visibility: Visibility | None = None,
    deleted: bool = False,
) -> Listing[Dataset]:
    """Datasets you may read, oldest first (``deleted=True``: your soft-deleted ones)."""
    params = fields(owner=owner, q=q, visibility=visibility, deleted="true" if deleted else None)
    return pages(ctx, Dataset.from_json, "/datasets", params)


def create_dataset(
    ctx: Context,
    name: str,
    *,
    owner: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    visibility: Visibility | None = None,
    licence: str | int | None = None,
    project: str | None = None,
    metadata: dict[str, Any] | None = None,
    exist_ok: bool = False,
) -> Op[Dataset]:
    """A new, empty dataset at version 0. With ``exist_ok``, a live dataset of that name
    is returned as it is instead of raising ``Conflict`` (its settings untouched)."""
    body = fields(
        name=name,
        owner=owner,
        description=description,
        tags=tags,
        visibility=visibility,
        licence=licence,
        project=project,
        metadata=metadata,
    )
    try:
        made = yield from call(ctx, json_request("POST", "/datasets", body))
    except Conflict:
        if not exist_ok:
            raise
        if owner is None:
            owner = (yield from _accounts.whoami(ctx)).user.username
        return (yield from get_dataset(ctx, f"{owner}/{name}"))
    return Dataset.from_json(made)


def get_dataset(ctx: Context, repo: str) -> Op[Dataset]:
    return Dataset.from_json((yield from call(ctx, Request("GET", dataset_url(repo)))))


def update_dataset(ctx: Context, repo: str, **changes: Unpack[DatasetUpdate]) -> Op[Dataset]:
    """Change settings (no new version). Renames need admin rights on the dataset."""
    answer = yield from call(ctx, json_request("PATCH", dataset_url(repo), dict(changes)))
    return Dataset.from_json(answer)


def delete_dataset(
    ctx: Context, repo: str, *, purge: bool = False, uid: str | None = None
) -> Op[None]:
    """Soft delete (restorable), or with ``purge`` delete for good (``uid``: which of
    several deleted datasets of that name)."""
    params = fields(purge="true" if purge else None, uid=uid)
    yield from send(ctx, Request("DELETE", dataset_url(repo), params=params))


def restore_dataset(ctx: Context, repo: str, *, uid: str | None = None) -> Op[Dataset]:
    """Undo a soft delete: the most recent one of that name, or the one with ``uid``."""
    url = dataset_url(repo) + "/restore"
    return Dataset.from_json((yield from call(ctx, Request("POST", url, params=fields(uid=uid)))))


def list_versions(ctx: Context, repo: str) -> Listing[Version]:
    """The dataset's history, newest first."""
    return pages(ctx, Version.from_json, dataset_url(repo) + "/versions")


def get_version(ctx: Context, repo: str, version: int | str) -> Op[Version]:
    """One version, by number or tag."""
    url = f"{dataset_url(repo)}/versions/{segment(version_value(version))}"
    return Version.from_json((yield from call(ctx, Request("GET", url))))


def diff(
    ctx: Context, repo: str, from_version: int | str, to_version: int | str | None = None
) -> Listing[DiffItem]:
    """What changed from one version to another (default: the head): files first, then
    records, each in path order."""
    params: dict[str, str | int] = {"from": version_value(from_version)}
    if to_version is not None:
        params["to"] = version_value(to_version)
    return pages(ctx, DiffItem.from_json, dataset_url(repo) + "/diff", params, pin={"to": "to"})
