"""Pigeon Optics authors and datasets: listings, create, info, delete, memo configuration.

A Pigeon Optics dataset ``author:name`` is the core dataset ``author/name``. Datasets made
here are public, as everything in this system is; core datasets the caller may not read
are left out of every listing and answer 404.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from dataloft.api.errors import MethodNotAllowed
from dataloft.api.listings import listing
from dataloft.api.pigeon.codecs import JSON, JSON_LINES, Codec, negotiate
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
from dataloft.api.pigeon.index import index_body, record_index
from dataloft.api.pigeon.web_pages import HOME, author_page, dataset_page, for_browser, see
from dataloft.api.pipeline import Call
from dataloft.core.access import SYSTEM, Principal
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.results import DatasetView, UserView
from dataloft.core.values import render_plain_json

MAX_CONFIG_BODY = 3 * 1024 * 1024


# --- authors ---------------------------------------------------------------------------------


def datasets_by_author(
    loft: Loft, actor: Principal, author: str | None = None
) -> dict[str, list[str]]:
    """Names of the datasets the caller may read, by author, in name order (lenses are
    listed under ``/lenses/``)."""
    lenses = loft.lenses.ids()
    found: dict[str, list[str]] = {}
    for dataset in loft.datasets.iter_datasets(actor, owner=author, by_name=True):
        if dataset.id not in lenses:
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
    if for_browser(call):
        return author_page(author)
    names = datasets_by_author(call.loft, call.actor, author).get(author, [])
    lenses = call.loft.lenses.names(call.actor, author).get(author, [])
    body = {"auth": "admin" if user.is_admin else "regular", "datasets": names, "lenses": lenses}
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
    if for_browser(call):
        return see(HOME)
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
        if for_browser(call):
            return author_page(author)
        names = datasets_by_author(loft, actor, author).get(author, [])
        return answer_listing(call, names, f"{author}'s datasets")
    view = loft.datasets.get(actor, author, name)
    if loft.lenses.is_lens(view.id):  # its page is under /lenses/
        raise NotFound(f"dataset {author}/{name} not found")
    if for_browser(call):
        return dataset_page(author, name)
    about = {**_configuration(view, view.version), "author": author, "name": name}
    about["config"] = {"memo": view.description}
    headers = {"X-Version": str(view.version)}
    codec = negotiate(call.header("accept"))
    if codec is JSON or codec is JSON_LINES:
        body = _page_json(call, view, about, codec)
        varying = {**headers, "Vary": "Accept"}  # as answer_listing says
        return listing(call.request, body, media_type=codec.media_type, headers=varying)
    _, records = record_index(loft, actor, view, view.version)
    return answer_listing(call, {**about, "records": records}, f"{author}:{name}", headers)


def _page_json(call: Call, view: DatasetView, about: dict[str, Any], codec: Codec) -> bytes:
    """The dataset's page as JSON (or as its one JSON Lines item): ``about``, then the
    record index as the last member, ``records``, taken encoded from the cache of indexes
    (``index.index_body``). The bytes ``encode_plain`` gives for the whole, without
    querying and encoding the index again while the head stays where it is: the page of
    10,000 records (1.1 MB) in 3.5 ms, where building and encoding it took 108 ms
    (``bench/listings.py``)."""
    head = render_plain_json(about)  # b"{...}": the index goes in before the brace
    body = head[:-1] + b',"records":' + index_body(call, view, JSON, False) + b"}"
    return body + b"\n" if codec is JSON_LINES else body


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
