"""Pigeon Optics authors and datasets: listings, create, info, delete, memo configuration.

A Pigeon Optics dataset ``author:name`` is the core dataset ``author/name``. Datasets made
here are public, as everything in this system is; core datasets the caller may not read
are left out of every listing and answer 404.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from dataloft.api.errors import MethodNotAllowed
from dataloft.api.pigeon.common import (
    answer,
    answer_listing,
    check_name,
    dataset_url,
    decoded_body,
    epoch_ms,
    owner_action,
    split_spec,
)
from dataloft.api.pipeline import Call
from dataloft.core.access import SYSTEM, Principal
from dataloft.core.changes import RECORDS
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView, EntrySummary, EntryView, UserView

MAX_CONFIG_BODY = 3 * 1024 * 1024


# --- authors ---------------------------------------------------------------------------------


def datasets_by_author(
    loft: Loft, actor: Principal, author: str | None = None
) -> dict[str, list[str]]:
    """Names of the datasets the caller may read, by author, in name order."""
    found: dict[str, list[str]] = {}
    for dataset in loft.datasets.iter_datasets(actor, owner=author, by_name=True):
        found.setdefault(dataset.owner, []).append(dataset.name)
    return dict(sorted(found.items()))


def list_authors(call: Call) -> Response:
    """Authors with at least one dataset the caller may read (accounts without public
    work are nobody else's business)."""
    by_author = datasets_by_author(call.loft, call.actor)
    return answer_listing(call, list(by_author), "Authors")


def show_author(call: Call) -> Response:
    author = call.param("author")
    user = _author(call.loft, author)
    names = datasets_by_author(call.loft, call.actor, author).get(author, [])
    body = {"auth": "admin" if user.is_admin else "regular", "datasets": names, "lenses": []}
    return answer_listing(call, body, author)


def _author(loft: Loft, author: str) -> UserView:
    """Whether an author exists and is an admin is public in this system; reading it needs
    no more than that, so the server asks on its own behalf."""
    try:
        return loft.accounts.get_user(SYSTEM, author)
    except (NotFound, Invalid):
        raise NotFound("Author account name doesn't exist") from None


# --- datasets --------------------------------------------------------------------------------


def list_datasets(call: Call) -> Response:
    return answer_listing(call, datasets_by_author(call.loft, call.actor), "Datasets")


def create_dataset(call: Call) -> Response:
    """``PUT /datasets/create`` with ``{"name", "memo"}``: a public dataset of the caller's."""
    actor = call.actor
    if actor.username is None:
        raise Unauthenticated("log in to create datasets")
    body = decoded_body(call, MAX_CONFIG_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid('expected {"name": ..., "memo": ...}')
    memo = body.get("memo", "")
    if not isinstance(memo, str):
        raise Invalid("memo must be a string")
    name = check_name(body["name"])
    call.loft.datasets.create(actor, actor.username, name, description=memo, visibility="public")
    return RedirectResponse(dataset_url(actor.username, name), status_code=303)


def show_dataset(call: Call) -> Response:
    """``/datasets/<author>:`` lists an author's datasets; ``/datasets/<author>:<name>/``
    shows one."""
    loft, actor = call.loft, call.actor
    author, name = split_spec(call)
    if not name:
        _author(loft, author)
        names = datasets_by_author(loft, actor, author).get(author, [])
        return answer_listing(call, names, f"{author}'s datasets")
    view, version, records = snapshot(loft, actor, author, name)
    body = {**_configuration(view, version), "author": author, "name": name}
    body["config"] = {"memo": view.description}
    body["records"] = records
    return answer_listing(call, body, f"{author}:{name}", {"X-Version": str(version)})


def delete_dataset(call: Call) -> Response:
    author, name = split_spec(call)
    if not name:
        raise MethodNotAllowed("an author's list can only be read", ["GET", "HEAD"])
    owner_action(call.loft.datasets.delete, call.actor, author, name)
    return Response(status_code=204)


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
    at, records = record_index(loft, actor, view, view.version if version is None else version)
    return view, at, records


def record_index(
    loft: Loft, actor: Principal, view: DatasetView, version: int
) -> tuple[int, dict[str, Any]]:
    """A dataset's record index at a version (one indexed query over its entries)."""
    at, entries = loft.browse.summaries(actor, view.owner, view.name, RECORDS, version)
    return at, {entry.path: record_meta(entry) for entry in entries}


def record_meta(entry: EntryView | EntrySummary) -> dict[str, Any]:
    return {"hash": entry.sha256, "links": record_links(entry), "version": entry.version}


def record_links(entry: EntryView | EntrySummary) -> list[str]:
    links: list[str] = (entry.metadata or {}).get("links", [])
    return links


def show_configuration(call: Call) -> Response:
    author, name = split_spec(call)
    view = call.loft.datasets.get(call.actor, author, name)
    return answer(call, _configuration(view, view.version), f"{author}:{name} configuration")


def set_configuration(call: Call) -> Response:
    """A memo change is a write like any other: it makes a new version."""
    loft = call.loft
    author, name = split_spec(call)
    body = decoded_body(call, MAX_CONFIG_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("memo", ""), str):
        raise Invalid('expected {"memo": "..."}')
    memo = body.get("memo", "")

    def change(actor: Principal, author: str, name: str) -> None:
        loft.commits.commit(
            actor, author, name, [], message="memo changed", dataset_changes={"description": memo}
        )

    owner_action(change, call.actor, author, name)
    return Response(status_code=204)
