"""``/api/v1/datasets/{dataset}/contents/[{target}]`` and ``.../inventory/[{target}]``:
what a Pbench dataset's tarball holds, listed as JSON and sent file by file, from the
upload's index (``core/pbench_contents.py``), never by unpacking it.

``contents`` answers in Pbench Server's newer form (the one its functional tests check):
a directory is ``{"name", "type": "DIRECTORY", "uri", "directories", "files"}`` (the top
one named ""), a file ``{"name", "type": "FILE", "uri", "size"}``, a symlink ``{"name",
"type": "SYMLINK", "uri", "link", "link_type"}``. A directory's ``uri`` leads to its own
listing (``contents/<path>``, no trailing slash but for the top one), a file's to its bytes
(``inventory/<path>``), a link's to where it leads when that is a directory or a file, to
itself otherwise. URIs are absolute, at the origin the client reached (``api/origins``),
and not percent-encoded: Pbench's clients compare them with templates filled in as they
are, and tarball names hold ``:``, ``=`` and ``,``.

``inventory`` sends the tarball itself (``attachment; filename=<name>.tar.xz``, typed
``application/octet-stream``: Werkzeug's guess, ``application/x-tar``, would call xz bytes a
plain tar) or one regular file, through symlinks (``inline; filename=<basename>``, typed
from its name as Werkzeug's ``send_file`` does: ``.log`` is ``application/octet-stream``,
``.json`` ``application/json``). Both go out through ``api/transfer.serve_blob``: ``Range``,
``ETag``, ``HEAD``, and the one rule for user bytes, so an HTML, SVG or script member is a
sandboxed attachment, never a page of this origin (only ``application/octet-stream`` keeps
Pbench's ``inline``: no browser renders it). A name whose suffix is a compression
(``x.json.gz``) is ``application/octet-stream`` too: Werkzeug added ``Content-Encoding``,
which makes clients unpack what they asked to download. A directory is a 301 to its
``contents``; a link that leads nowhere is a 400.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from dataloft.api.origins import public_origin
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.api.transfer import OCTET_STREAM, serve_blob
from dataloft.core.pbench_contents import DirectoryListing, Item, MemberDirectory, MemberFile

# Python's own table, not the system's (/etc/mime.types differs from one machine to the
# next; Werkzeug used whichever it found): the same answer everywhere.
_TYPES = mimetypes.MimeTypes()
# RFC 9110 token characters: a file name made of these only goes out unquoted, as
# Werkzeug sends it (``inline; filename=metadata.log``, which Pbench's tests expect).
_TOKEN = frozenset("!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~")
# What a Location keeps as it is (RFC 3986 path characters): ':' '=' ',' stay readable.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _base(call: Call) -> str:
    return f"{public_origin(call.request)}/api/v1/datasets/{call.param('dataset')}"


def _target(call: Call) -> str:
    target: str = call.request.path_params.get("target", "")
    return target


def _uri(item: Item) -> str:
    if item.type == "DIRECTORY":
        return f"contents/{item.path}"
    if item.type == "SYMLINK" and item.link_type == "DIRECTORY":
        return f"contents/{item.link}"
    if item.type == "SYMLINK" and item.link_type == "FILE":
        return f"inventory/{item.link}"
    return f"inventory/{item.path}"


def _item(base: str, item: Item) -> dict[str, Any]:
    body: dict[str, Any] = {"name": item.name, "type": item.type, "uri": f"{base}/{_uri(item)}"}
    if item.size is not None:
        body["size"] = item.size
    if item.link is not None:
        body["link"] = item.link
        body["link_type"] = item.link_type
    return body


def contents(call: Call) -> Response:
    found = call.loft.pbench_contents.listing(call.actor, call.param("dataset"), _target(call))
    base = _base(call)
    if isinstance(found, Item):
        return JSONResponse(_item(base, found))
    listing: DirectoryListing = found
    return JSONResponse(
        {
            "name": listing.name,
            "type": "DIRECTORY",
            "uri": f"{base}/contents/{listing.path}",
            "directories": [_item(base, item) for item in listing.directories],
            "files": [_item(base, item) for item in listing.files],
        }
    )


def media_type(name: str) -> str:
    """What Werkzeug's ``send_file`` calls a file of this name, but for compressed ones."""
    guessed, encoding = _TYPES.guess_type(name)
    return OCTET_STREAM if guessed is None or encoding is not None else guessed


def disposition(kind: str, name: str) -> str:
    """``Content-Disposition`` as Werkzeug writes it: the name bare when it is a token,
    quoted otherwise, and an ASCII stand-in beside ``filename*`` when it is not ASCII."""
    if name.isascii():
        return f"{kind}; filename={_quoted(name)}"
    simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    utf8 = quote(name, safe="!#$&+-.^_`|~")
    return f"{kind}; filename={_quoted(simple)}; filename*=UTF-8''{utf8}"


def _quoted(value: str) -> str:
    if value and all(c in _TOKEN for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _send(call: Call, member: MemberFile, kind: str, type_: str) -> Response:
    return serve_blob(
        call.request,
        call.loft.blobs,
        member.blob,
        etag=member.etag,
        modified=member.modified,
        media_type=type_,
        filename=member.name,
        headers={"Content-Disposition": disposition(kind, member.name)},
        inline=(OCTET_STREAM,),
    )


def inventory(call: Call) -> Response:
    target = _target(call)
    found_in = call.loft.pbench_contents
    if not target:
        tarball = found_in.open_tarball(call.actor, call.param("dataset"))
        return _send(call, tarball, "attachment", OCTET_STREAM)
    found = found_in.open_file(call.actor, call.param("dataset"), target)
    if isinstance(found, MemberDirectory):
        location = f"{_base(call)}/contents/{quote(target, safe=_PATH_SAFE)}"
        return Response(status_code=301, headers={"Location": location})
    return _send(call, found, "inline", media_type(found.name))


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/datasets/{dataset}/contents": {"GET": contents},
    "/datasets/{dataset}/contents/{target:anypath}": {"GET": contents},
    "/datasets/{dataset}/inventory": {"GET": inventory},
    "/datasets/{dataset}/inventory/{target:anypath}": {"GET": inventory},
}
