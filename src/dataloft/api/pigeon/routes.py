"""Pigeon Optics: authors, datasets and records over the core.

A Pigeon Optics dataset ``author:name`` is the core dataset ``author/name``; its records are
core record entries, and every write (one record, a bulk merge or overwrite, a memo change)
is one commit, so the collection ``version`` goes up by exactly one per write while a
record's own ``version`` (the version in which its value appeared) moves only when its
value changes. A record's ``hash`` is the sha256 of its canonical CBOR.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dataloft.api.pigeon.auth import SESSION_COOKIE, authenticate
from dataloft.api.pigeon.codecs import (
    JSON,
    codec_for_body,
    decode_value,
    encode_value,
    html_page,
    negotiate,
)
from dataloft.api.pigeon.records import bulk_entries, hash_links, is_deletion
from dataloft.api.transfer import in_thread, read_body
from dataloft.core.access import SYSTEM, Action, Principal
from dataloft.core.commits import RECORDS, Change, DeleteRecord, PutRecord
from dataloft.core.errors import EntryNotFound, Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.views import DatasetView, EntryView, UserView

PAGE = 1000
MAX_AUTH_BODY = 8 * 1024
MAX_CONFIG_BODY = 3 * 1024 * 1024
# Characters a Pigeon Optics dataset name may not hold (they mean something in its paths).
_NAME_FORBIDDEN = set("!*'();:@&=+$,/?%#[]")
RESEND_HEADER = "X-Pigeon-Optics-Resend-With-Attachments"

Handler = Callable[[Request], Awaitable[Response]]


def _loft(request: Request) -> Loft:
    loft: Loft = request.app.state.loft
    return loft


def method_of(request: Request) -> str:
    """HTML forms can only POST: ``?_method=PUT`` (or DELETE) says what they mean."""
    override = request.query_params.get("_method")
    if request.method == "POST" and override:
        return override.upper()
    return request.method


def answer(
    request: Request, value: Any, title: str, headers: dict[str, str] | None = None
) -> Response:
    """``value`` in the codec the client asked for, or as a page for browsers."""
    codec = negotiate(request.headers.get("accept"))
    if codec is None:
        return Response(html_page(title, value), media_type="text/html", headers=headers)
    return Response(encode_value(value, codec), media_type=codec.media_type, headers=headers)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def split_spec(spec: str) -> tuple[str, str]:
    """``alice:signs`` -> ``("alice", "signs")``; the name may be empty (``alice:``)."""
    author, colon, name = spec.partition(":")
    if not colon or not author:
        raise NotFound("Path not Found, web address maybe incorrect")
    return author, name


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 250 or name in (".", "..") or _NAME_FORBIDDEN & set(name):
        raise Invalid(
            "dataset names are 1-250 characters, not '.' or '..', without any of "
            + " ".join(sorted(_NAME_FORBIDDEN))
        )
    return name


# --- authors ---------------------------------------------------------------------------------


def _datasets_by_author(
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
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    by_author = await in_thread(_datasets_by_author, loft, actor)
    return answer(request, list(by_author), "Authors")


async def show_author(request: Request) -> Response:
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    author = request.path_params["author"]
    user = await _author(loft, author)
    names = (await in_thread(_datasets_by_author, loft, actor, author)).get(author, [])
    body = {"auth": "admin" if user.is_admin else "regular", "datasets": names, "lenses": []}
    return answer(request, body, author)


# --- datasets --------------------------------------------------------------------------------


async def list_datasets(request: Request) -> Response:
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    return answer(request, await in_thread(_datasets_by_author, loft, actor), "Datasets")


async def create_dataset(request: Request) -> Response:
    """``PUT /datasets/create`` with ``{"name", "memo"}``: a public dataset of the caller's."""
    if method_of(request) != "PUT":
        raise HTTPException(405, "use PUT to create a dataset", headers={"Allow": "PUT"})
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    if actor.username is None:
        raise Unauthenticated("log in to create datasets")
    body = await _decoded_body(request, MAX_CONFIG_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid('expected {"name": ..., "memo": ...}')
    memo = body.get("memo", "")
    if not isinstance(memo, str):
        raise Invalid("memo must be a string")
    name = check_name(body["name"])
    await in_thread(
        loft.datasets.create, actor, actor.username, name, description=memo, visibility="public"
    )
    return RedirectResponse(_dataset_url(actor.username, name), status_code=303)


def _dataset_url(author: str, name: str) -> str:
    return f"/datasets/{quote(author, safe='')}:{quote(name, safe='')}/"


async def dataset(request: Request) -> Response:
    """``/datasets/<author>:`` lists an author's datasets; ``/datasets/<author>:<name>/``
    shows one (GET) or deletes it (DELETE)."""
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if not name:
        if method not in ("GET", "HEAD"):
            raise HTTPException(405, "an author's list can only be read", headers={"Allow": "GET"})
        await _author(loft, author)
        names = (await in_thread(_datasets_by_author, loft, actor, author)).get(author, [])
        return answer(request, names, f"{author}'s datasets")
    if method == "DELETE":
        await in_thread(_owner_action, loft.datasets.delete, actor, author, name)
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(405, "read or delete a dataset", headers={"Allow": "GET, DELETE"})
    view, version, records = await in_thread(_snapshot, loft, actor, author, name)
    body = {**_configuration(view, version), "author": author, "name": name}
    body["config"] = {"memo": view.description}
    body["records"] = records
    return answer(request, body, f"{author}:{name}", {"X-Version": str(version)})


async def _author(loft: Loft, author: str) -> UserView:
    """Whether an author exists and is an admin is public in this system; reading it needs
    no more than that, so the server asks on its own behalf."""
    try:
        return await in_thread(loft.accounts.get_user, SYSTEM, author)
    except (NotFound, Invalid):
        raise NotFound("Author account name doesn't exist") from None


def _owner_action(action: Callable[..., Any], actor: Principal, author: str, name: str) -> Any:
    """Dataset-level writes: anonymous callers get 401, other authors 403."""
    if actor.is_anonymous:
        raise Unauthenticated("You need to login as someone with permission to edit this")
    try:
        return action(actor, author, name)
    except Forbidden:
        raise Forbidden("You need to login as someone with permission to edit this") from None


def _configuration(view: DatasetView, version: int) -> dict[str, Any]:
    return {
        "memo": view.description,
        "version": version,
        "created": epoch_ms(view.created),
        "updated": epoch_ms(view.updated),
    }


def _snapshot(
    loft: Loft, actor: Principal, author: str, name: str
) -> tuple[DatasetView, int, dict[str, Any]]:
    """The dataset, its head version and its record index at that version."""
    view = loft.datasets.get(actor, author, name)
    version = view.version
    records: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        _, page = loft.browse.list_entries(
            actor, author, name, RECORDS, version=version, limit=PAGE, cursor=cursor
        )
        records.update((entry.path, _record_meta(entry)) for entry in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return view, version, records


def _record_meta(entry: EntryView) -> dict[str, Any]:
    links = (entry.metadata or {}).get("links", [])
    return {"hash": entry.sha256, "links": links, "version": entry.version}


async def configuration(request: Request) -> Response:
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if method == "PUT":
        body = await _decoded_body(request, MAX_CONFIG_BODY)
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

    _owner_action(change, actor, author, name)


# --- records ---------------------------------------------------------------------------------


async def record_index(request: Request) -> Response:
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    method = method_of(request)
    if method in ("POST", "PUT"):
        codec = codec_for_body(request.headers.get("content-type"))
        raw = await read_body(request, loft.settings.max_json_body)
        entries = bulk_entries(raw, codec)
        await in_thread(_write_bulk, loft, actor, author, name, entries, method == "PUT")
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(
            405,
            "read, merge (POST) or replace (PUT) records",
            headers={"Allow": "GET, POST, PUT, HEAD"},
        )
    _, version, records = await in_thread(_snapshot, loft, actor, author, name)
    headers = {"X-Version": str(version), "ETag": f'"{version}"'}
    return answer(request, records, f"{author}:{name} records", headers)


async def record(request: Request) -> Response:
    loft = _loft(request)
    actor = await in_thread(authenticate, loft, request)
    author, name = split_spec(request.path_params["spec"])
    record_id = request.path_params["record_id"]
    method = method_of(request)
    if method == "PUT":
        codec = codec_for_body(request.headers.get("content-type"))
        value = decode_value(await read_body(request, loft.settings.max_record_size), codec)
        if is_deletion(value):
            raise Invalid("Records cannot be set to null")
        await in_thread(_write_bulk, loft, actor, author, name, [(record_id, value)], False)
        return Response(status_code=204)
    if method == "DELETE":
        change = DeleteRecord(record_id)
        await in_thread(
            _record_write, loft, actor, author, name, [change], False, f"delete {record_id}"
        )
        return Response(status_code=204)
    if method not in ("GET", "HEAD"):
        raise HTTPException(
            405, "read, write or delete a record", headers={"Allow": "GET, PUT, DELETE, HEAD"}
        )
    try:
        found, value = await in_thread(loft.browse.read_record, actor, author, name, record_id)
    except EntryNotFound:
        raise NotFound("Record Not Found") from None
    headers = {"X-Version": str(found.entry.version), "ETag": found.entry.etag}
    return answer(request, value, f"{author}:{name}/{record_id}", headers)


def _write_bulk(
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    entries: list[tuple[str, Any]],
    overwrite: bool,
) -> None:
    """One commit for the whole body, checked before anything is stored: every attachment
    it links to must be on the server already."""
    # Who may write is settled first: the attachment check must not tell strangers which
    # blobs the server holds.
    _require_record_writer(loft, actor, author, name)
    changes: list[Change] = []
    missing: dict[str, str] = {}
    seen: set[str] = set()
    for record_id, value in entries:
        if record_id in seen:
            raise Invalid(f"record {record_id!r} appears more than once in the body")
        seen.add(record_id)
        if is_deletion(value):
            if overwrite and value is not None:
                raise Invalid("undefined is not a value a dataset can be overwritten with")
            changes.append(DeleteRecord(record_id, missing_ok=True))
            continue
        links = hash_links(value)
        for url, digest in links.items():
            if url not in missing and not loft.blobs.has(digest):
                missing[url] = digest
        metadata = {"links": list(links)} if links else None
        changes.append(PutRecord(record_id, value, metadata=metadata))
    if missing:
        resend = ", ".join(json.dumps(url) for url in missing)
        raise HTTPException(400, "Missing Attachments", headers={RESEND_HEADER: resend})
    message = "overwrite records" if overwrite else f"write {len(changes)} records"
    _record_write(loft, actor, author, name, changes, overwrite, message)


def _record_write(
    loft: Loft,
    actor: Principal,
    author: str,
    name: str,
    changes: list[Change],
    replace: bool,
    message: str,
) -> None:
    with _as_record_writer(actor):
        loft.commits.commit(actor, author, name, changes, message=message, replace_records=replace)


def _require_record_writer(loft: Loft, actor: Principal, author: str, name: str) -> None:
    with _as_record_writer(actor):
        loft.datasets.get(actor, author, name, Action.WRITE)


@contextlib.contextmanager
def _as_record_writer(actor: Principal) -> Iterator[None]:
    """Record writes answer 401 to anyone who may not write, as the original does."""
    if actor.is_anonymous:
        raise Unauthenticated("You need to login as someone with permission to edit this")
    try:
        yield
    except Forbidden as error:
        raise Unauthenticated(error.message) from None


async def _decoded_body(request: Request, limit: int) -> Any:
    """A small body in any codec, or an HTML form's fields as strings."""
    raw = await read_body(request, limit)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return decode_value(raw, codec_for_body(content_type) if content_type else JSON)


# --- sessions --------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    """``POST /auth`` with ``name``, ``password``, ``register`` (create the account first)
    and ``return`` (where to go next): sets the session cookie, 303 to ``return``."""
    loft = _loft(request)
    if request.method != "POST":
        form = (
            '<form method=post action="/auth"><input name=name placeholder=name> '
            "<input name=password type=password placeholder=password> "
            "<label><input type=checkbox name=register value=1> register</label> "
            "<button>Log in</button></form>"
        )
        return Response(f"<!doctype html><title>Log in</title>{form}", media_type="text/html")
    body = await _decoded_body(request, MAX_AUTH_BODY)
    if not isinstance(body, dict):
        raise Invalid("expected name and password")
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise Invalid("name and password are required")
    if body.get("register") not in (None, "", False, "false", "0"):
        await in_thread(loft.accounts.register, name, password)
    made = await in_thread(loft.auth.login, name, password, "pigeon-optics session")
    response = RedirectResponse(_local(body.get("return")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, made.secret, httponly=True, samesite="lax", max_age=30 * 24 * 3600
    )
    return response


def _local(target: object) -> str:
    """Where to go after logging in or out: a path on this server, never another site."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


async def logout(request: Request) -> Response:
    loft = _loft(request)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await in_thread(loft.auth.revoke_secret, session)
    response = RedirectResponse(_local(request.query_params.get("return")), status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


ROUTES: list[tuple[str, Handler, list[str]]] = [
    ("/auth", login, ["GET", "POST"]),
    ("/auth/logout", logout, ["GET"]),
    ("/authors/", list_authors, ["GET", "HEAD"]),
    ("/authors/{author}/", show_author, ["GET", "HEAD"]),
    ("/datasets/", list_datasets, ["GET", "HEAD"]),
    ("/datasets/create", create_dataset, ["PUT", "POST", "GET"]),
    ("/datasets/{spec}", dataset, ["GET", "HEAD", "DELETE", "POST"]),
    ("/datasets/{spec}/", dataset, ["GET", "HEAD", "DELETE", "POST"]),
    ("/datasets/{spec}/configuration", configuration, ["GET", "HEAD", "PUT", "POST"]),
    ("/datasets/{spec}/records/", record_index, ["GET", "HEAD", "POST", "PUT"]),
    (
        "/datasets/{spec}/records/{record_id:anypath}",
        record,
        ["GET", "HEAD", "PUT", "DELETE", "POST"],
    ),
]
