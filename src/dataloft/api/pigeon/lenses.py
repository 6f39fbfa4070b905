"""Pigeon Optics lenses (reference §1.3, §3): listings, create, info, configuration and its
code, build logs, delete, and the ephemeral lens. A lens's records, exports and event
stream are the dataset handlers' (a lens is a core dataset), behind ``lens_only``, which
answers 404 for a path under ``/lenses/`` that names a plain dataset.

The info page follows the reference's [docs] shape, mirroring datasets, with ``status``
added: the input versions the records reflect and whether a build is pending, running or
failed, so that a client can wait until a lens has caught up with an input's version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.responses import RedirectResponse, Response, StreamingResponse

from dataloft.api.errors import MethodNotAllowed
from dataloft.api.pigeon.codecs import JSON, encode_stream, negotiate
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
from dataloft.api.pigeon.datasets import MAX_CONFIG_BODY, _author
from dataloft.api.pigeon.index import record_index
from dataloft.api.pipeline import Call
from dataloft.api.transfer import user_content_headers
from dataloft.core.access import Principal
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.lenses import LensView, parse_config

SOURCE = "lenses"


def _config(view: LensView) -> dict[str, Any]:
    config: dict[str, Any] = {
        "memo": view.memo,
        "mapType": "javascript",
        "code": view.map_code,
        "mapCode": view.map_code,
        "inputs": view.inputs,
    }
    if view.reduce_code is not None:
        config["reduceCode"] = view.reduce_code
    return config


def _lens(call: Call) -> tuple[str, str, LensView]:
    author, name = split_spec(call)
    if not name:
        raise NotFound("Path not Found, web address maybe incorrect")
    return author, name, call.loft.lenses.get(call.actor, author, name)


def lens_only(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
    """A dataset handler for a lens's path: 404 unless the path names a lens."""

    def handle(call: Call) -> Any:
        _lens(call)
        return handler(call)

    handle.__name__ = handler.__name__
    handle.__doc__ = handler.__doc__
    return handle


def lens_only_streaming(
    handler: Callable[[Call], Awaitable[Response]],
) -> Callable[[Call], Awaitable[Response]]:
    async def handle(call: Call) -> Response:
        await call.in_thread(_lens, call)
        return await handler(call)

    handle.__name__ = handler.__name__
    return handle


# --- listings and info -----------------------------------------------------------------------


def list_lenses(call: Call) -> Response:
    return answer_listing(call, call.loft.lenses.names(call.actor), "Lenses")


def show_lens(call: Call) -> Response:
    """``/lenses/<author>:`` lists an author's lenses; ``/lenses/<author>:<name>/`` shows
    one: its configuration, record index and build status."""
    author, name = split_spec(call)
    if not name:
        _author(call.loft, author)
        names = call.loft.lenses.names(call.actor, author).get(author, [])
        return answer_listing(call, names, f"{author}'s lenses")
    view = call.loft.lenses.get(call.actor, author, name)
    _, records = record_index(call.loft, call.actor, view.dataset, view.dataset.version)
    body = {
        "author": author,
        "name": name,
        "version": view.dataset.version,
        "created": epoch_ms(view.dataset.created),
        "updated": epoch_ms(view.dataset.updated),
        "config": _config(view),
        "status": view.status(),
        "records": records,
    }
    headers = {"X-Version": str(view.dataset.version)}
    return answer(call, body, f"{author}:{name}", headers)


def show_configuration(call: Call) -> Response:
    author, name, view = _lens(call)
    body = {
        **_config(view),
        "version": view.dataset.version,
        "created": epoch_ms(view.dataset.created),
        "updated": epoch_ms(view.dataset.updated),
        "status": view.status(),
    }
    headers = {"X-Version": str(view.dataset.version)}
    return answer(call, body, f"{author}:{name} configuration", headers)


def show_code(call: Call) -> Response:
    """``configuration/map`` (or ``map.js``) and ``configuration/reduce``: the code as
    JavaScript text."""
    _, _, view = _lens(call)
    which = call.param("which").removesuffix(".js")
    if which == "map":
        code = view.map_code
    elif which == "reduce" and view.reduce_code is not None:
        code = view.reduce_code
    else:
        raise NotFound("Path not Found, web address maybe incorrect")
    # A user's code, as any user bytes: sandboxed, and a download rather than a script
    # in our origin (JavaScript is an active type).
    media_type = "application/javascript"
    headers = {
        "X-Version": str(view.dataset.version),
        **user_content_headers(call.request, media_type, f"{which}.js"),
    }
    return Response(code, media_type=media_type, headers=headers)


def show_logs(call: Call) -> Response:
    """One entry per input record of the last build that mapped it: ``path`` (and the
    older ``input``), the console ``logs`` and the ``errors``."""
    author, name, _ = _lens(call)
    entries = list(call.loft.lenses.logs(call.actor, author, name))
    codec = negotiate(call.header("accept"))
    if codec is None:
        return answer(call, entries, f"{author}:{name} logs")
    return StreamingResponse(encode_stream(entries, codec), media_type=codec.media_type)


# --- writing ---------------------------------------------------------------------------------


def create_lens(call: Call) -> Response:
    """``PUT /lenses/create`` with a configuration and a ``name``: a lens of the caller's,
    built in the background. 303 to it."""
    actor = call.actor
    if actor.username is None:
        raise Unauthenticated("log in to create lenses")
    body = decoded_body(call, MAX_CONFIG_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise Invalid('expected {"name": ..., "inputs": [...], "code": "..."}')
    name = check_name(body["name"])
    call.loft.lenses.create(actor, name, parse_config(body))
    return RedirectResponse(dataset_url(actor.username, name, SOURCE), status_code=303)


def set_configuration(call: Call) -> Response:
    """New inputs, code or memo: 204, and a rebuild in the background."""
    author, name, _ = _lens(call)
    owner_action(call.loft.lenses.require_writer, call.actor, author, name)
    config = parse_config(decoded_body(call, MAX_CONFIG_BODY))

    def configure(actor: Principal, author: str, name: str) -> None:
        call.loft.lenses.configure(actor, author, name, config)

    owner_action(configure, call.actor, author, name)
    return Response(status_code=204)


def delete_lens(call: Call) -> Response:
    author, name = split_spec(call)
    if not name:
        raise MethodNotAllowed("an author's list can only be read", ["GET", "HEAD"])
    owner_action(call.loft.lenses.delete, call.actor, author, name)
    return Response(status_code=204)


# --- ephemeral -------------------------------------------------------------------------------


def ephemeral(call: Call) -> Response:
    """``POST /lenses/ephemeral``: the configuration built once, nothing kept, streamed in
    the ``Accept`` codec (JSON by default) as ``{"log": ...}`` items, one per input
    record, then ``{"record": ...}`` items. No login needed, as in the original (the
    editor's Test button); the inputs must be readable by the caller."""
    config = parse_config(decoded_body(call, MAX_CONFIG_BODY))
    logs, records = call.loft.lenses.preview(call.actor, config)
    codec = negotiate(call.header("accept")) or JSON

    def items() -> Iterator[Any]:
        for entry in logs:
            yield {"log": entry}
        for record in records:
            yield {"record": record}

    return StreamingResponse(encode_stream(items(), codec), media_type=codec.media_type)
