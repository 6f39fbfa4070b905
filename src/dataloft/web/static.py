"""The UI's own stylesheets and scripts, from ``web/static`` (read once, at start), and the
colours of highlighted source (made by Pygments). Only names listed there are served: a
request names a file, never a path. They change only with the server's version, which
their URLs do not carry, so browsers keep them an hour and ask again."""

from __future__ import annotations

import hashlib
from importlib.resources import files

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes, quick
from dataloft.core.errors import NotFound
from dataloft.web.markup import highlight_styles

TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _load() -> dict[str, tuple[bytes, str, str]]:
    """Each file's bytes, type and ETag."""
    found: dict[str, tuple[bytes, str]] = {}
    for item in files("dataloft.web").joinpath("static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in TYPES:
            found[item.name] = (item.read_bytes(), TYPES[suffix])
    found["highlight.css"] = (highlight_styles().encode(), TYPES[".css"])
    return {
        name: (body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        for name, (body, media_type) in found.items()
    }


FILES = _load()


def static(call: Call) -> Response:
    name = call.param("file")
    if name not in FILES:
        raise NotFound(f"no file {name!r} here")
    body, media_type, etag = FILES[name]
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if call.header("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


ROUTES: Routes = {"/ui/-/static/{file}": {"GET": quick(static)}}
