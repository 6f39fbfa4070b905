"""Pigeon Optics authors and datasets: listings, create, info, delete, memo configuration.

A Pigeon Optics dataset ``author:name`` is the core dataset ``author/name``. Datasets made
here are public, as everything in this system is; core datasets the caller may not read
are left out of every listing and answer 404.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dataloft.api.pigeon.auth import authenticate
from dataloft.api.pigeon.common import (
    PAGE,
    answer,
    check_name,
    dataset_url,
    decoded_body,
    epoch_ms,
    loft_of,
    method_of,
    owner_action,
    split_spec,
)
from dataloft.api.transfer import in_thread
from dataloft.core.access import SYSTEM, Principal
from dataloft.core.changes import RECORDS
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.views import DatasetView, EntryView, UserView

MAX_CONFIG_BODY = 3 * 1024 * 1024


# --- authors ---------------------------------------------------------------------------------


def datasets_by_author(
    loft: Loft, actor: Principal, author: str | None = None
) -> dict[str, list[str]]:
    """Names of the datasets the caller may read, by author, in name order."""
    found: dict[str, list[str]] = {}
    cursor: str | None = None
    while True:
        page = loft.datasets.list_datasets(
            actor, owner=author, by_name=True, limit=PAGE, cursor=cursor
        )
        for dataset in page.items:
            found.setdefault(dataset.owner, []).append(dataset.name)
        cursor = page.next_cursor
        if cursor is None:
            return dict(sorted(found.items()))


async def list_authors(request: Request) -> Response:
    """Authors with at least one dataset the caller may read (accounts without public
    work are nobody else's business)."""
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    by_author = await in_thread(datasets_by_author, loft, actor)
    return answer(request, list(by_author), "Authors")


async def show_author(request: Request) -> Response:
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    author = request.path_params["author"]
    user = await _author(loft, author)
    names = (await in_thread(datasets_by_author, loft, actor, author)).get(author, [])
    body = {"auth": "admin" if user.is_admin else "regular", "datasets": names, "lenses": []}
    return answer(request, body, author)


async def _author(loft: Loft, author: str) -> UserView:
    """Whether an author exists and is an admin is public in this system; reading it needs
    no more than that, so the server asks on its own behalf."""
    try:
        return await in_thread(loft.accounts.get_user, SYSTEM, author)
    except (NotFound, Invalid):
        raise NotFound("Author account name doesn't exist") from None


# --- datasets --------------------------------------------------------------------------------


async def list_datasets(request: Request) -> Response:
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    return answer(request, await in_thread(datasets_by_author, loft, actor), "Datasets")


async def create_dataset(request: Request) -> Response:
    """``PUT /datasets/create`` with ``{"name", "memo"}``: a public dataset of the caller's."""
    if method_of(request) != "PUT":
        raise HTTPException(405, "use PUT to create a dataset", headers={"Allow": "PUT"})
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    if actor.username is None:
        raise Unauthenticated("log in to create datasets")
    body = await decoded_body(request, MAX_CONFIG_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid('expected {"name": ..., "memo": ...}')
    memo = body.get("memo", "")
    if not isinstance(memo, str):
        raise Invalid("memo must be a string")
    name = check_name(body["name"])
    await in_thread(
        loft.datasets.create, actor, actor.username, name, description=memo, visibility="public"
    )
    return RedirectResponse(dataset_url(actor.username, name), status_code=303)


async def dataset(request: Request) -> Response:
    """``/datasets/<author>:`` lists an author's datasets; ``/datasets/<author>:<name>/``
    shows one (GET) or deletes it (DELETE)."""
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if not name:
        if method not in ("GET", "HEAD"):
            raise HTTPException(405, "an author's list can only be read", headers={"Allow": "GET"})
        await _author(loft, author)
        names = (await in_thread(datasets_by_author, loft, actor, author)).get(author, [])
        return answer(request, names, f"{author}'s datasets")
    if method == "DELETE":
        await in_thread(owner_action, loft.datasets.delete, actor, author, name)
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(405, "read or delete a dataset", headers={"Allow": "GET, DELETE"})
    view, version, records = await in_thread(snapshot, loft, actor, author, name)
    body = {**_configuration(view, version), "author": author, "name": name}
    body["config"] = {"memo": view.description}
    body["records"] = records
    return answer(request, body, f"{author}:{name}", {"X-Version": str(version)})


def _configuration(view: DatasetView, version: int) -> dict[str, Any]:
    return {
        "memo": view.description,
        "version": version,
        "created": epoch_ms(view.created),
        "updated": epoch_ms(view.updated),
    }


def snapshot(
    loft: Loft, actor: Principal, author: str, name: str, version: int | None = None
) -> tuple[DatasetView, int, dict[str, Any]]:
    """The dataset, a version (the head by default) and its record index at that version."""
    view = loft.datasets.get(actor, author, name)
    at = view.version if version is None else version
    records: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        _, page = loft.browse.list_entries(
            actor, author, name, RECORDS, version=at, limit=PAGE, cursor=cursor
        )
        records.update((entry.path, record_meta(entry)) for entry in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return view, at, records


def record_meta(entry: EntryView) -> dict[str, Any]:
    return {"hash": entry.sha256, "links": record_links(entry), "version": entry.version}


def record_links(entry: EntryView) -> list[str]:
    links: list[str] = (entry.metadata or {}).get("links", [])
    return links


async def configuration(request: Request) -> Response:
    loft = loft_of(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if method == "PUT":
        body = await decoded_body(request, MAX_CONFIG_BODY)
        if not isinstance(body, dict) or not isinstance(body.get("memo", ""), str):
            raise Invalid('expected {"memo": "..."}')
        await in_thread(_set_memo, loft, actor, author, name, body.get("memo", ""))
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(
            405, "read or replace the configuration", headers={"Allow": "GET, PUT, HEAD"}
        )
    view = await in_thread(loft.datasets.get, actor, author, name)
    return answer(request, _configuration(view, view.version), f"{author}:{name} configuration")


def _set_memo(loft: Loft, actor: Principal, author: str, name: str, memo: str) -> None:
    """A memo change is a write like any other: it makes a new version."""

    def change(actor: Principal, author: str, name: str) -> None:
        loft.datasets.update(actor, author, name, {"description": memo})
        loft.commits.commit(actor, author, name, [], message="memo changed")

    owner_action(change, actor, author, name)
