"""The tus 1.0.0 protocol's headers, for the resumable uploads under ``/loft/v1/uploads/``
(https://tus.io/protocols/resumable-upload): what they may hold, how they are read, and
``TusProtocol``, the edge middleware that speaks the protocol's part that comes before any
route (the version every request and response carries, and method overriding).

Every header is read strictly, as its grammar says: the OpenAPI document states the same
grammar as patterns, and a request the document calls invalid must not pass here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.utils import format_datetime

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataloft.api.errors import UnsupportedMediaType
from dataloft.api.native import PREFIX
from dataloft.config import Settings
from dataloft.core.errors import Invalid
from dataloft.core.pagination import ascii_natural
from dataloft.core.partials import CHECKSUMS, Checksum
from dataloft.core.uploads import UploadState

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
# The bytes of an upload travel as this type, in a PATCH and in a creating POST.
OFFSET_STREAM = "application/offset+octet-stream"
# What Upload-Metadata may hold, at most: it is kept with the upload and sent back.
MAX_METADATA = 4096
# The blob an upload became, once it is finished: name it in a commit by this sha256.
BLOB_HEADER = "Loft-Blob-Sha256"
COLLECTION = PREFIX + "/uploads/"

# The grammars, as the OpenAPI document states them too. A metadata key is printable
# ASCII but for the space and the comma; a value is base64 (standard alphabet, padded).
BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_KEY = r"[\x21-\x2b\x2d-\x7e]+"
_PAIR = rf"{_KEY}(?: {BASE64})?"
METADATA_PATTERN = rf"^(?:{_PAIR}(?:,{_PAIR})*)?$"


def _encoded_digest(algorithm: str) -> str:
    """The base64 of one of ``algorithm``'s digests, which have a fixed size."""
    size = CHECKSUMS[algorithm]().digest_size
    padding = -size % 3
    return rf"[A-Za-z0-9+/]{{{(size + padding) // 3 * 4 - padding}}}{'=' * padding}"


CHECKSUM_PATTERN = "^(?:" + "|".join(f"{a} {_encoded_digest(a)}" for a in CHECKSUMS) + ")$"
_METADATA = re.compile(METADATA_PATTERN)
_CHECKSUM = re.compile(CHECKSUM_PATTERN)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The key of Upload-Metadata that declares the whole upload's sha256.
SHA256_KEY = "sha256"


def discovery_headers(settings: Settings) -> dict[str, str]:
    """What ``OPTIONS`` tells a client of this server's tus."""
    return {
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.max_file_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
    }


def state_headers(state: UploadState) -> dict[str, str]:
    """Where an upload stands, as every answer about it says: its offset, when it
    expires, and once finished, the sha256 of the blob it became."""
    headers = {
        "Upload-Offset": str(state.offset),
        "Upload-Expires": format_datetime(state.expires, usegmt=True),
    }
    if state.digest is not None:
        headers[BLOB_HEADER] = state.digest
    return headers


def natural_header(request: Request, name: str) -> int:
    """A required header holding a non-negative integer."""
    value = request.headers.get(name)
    if value is None:
        raise Invalid(f"{name} is required")
    number = ascii_natural(value)
    if number is None:
        raise Invalid(f"{name} must be a non-negative integer, not {value!r}")
    return number


def upload_length(request: Request) -> int:
    if "upload-defer-length" in request.headers:
        raise Invalid(
            "Upload-Defer-Length is not offered here (no creation-defer-length): send Upload-Length"
        )
    return natural_header(request, "Upload-Length")


def carries_bytes(request: Request) -> bool:
    """Whether the body is upload bytes (``Content-Type: application/offset+octet-
    stream``, parameters aside, in any case)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == OFFSET_STREAM


def has_body(request: Request) -> bool:
    """Whether the request says it has a body: a length over 0, or chunks."""
    length = request.headers.get("content-length")
    return "chunked" in request.headers.get("transfer-encoding", "").lower() or (
        length is not None and length.strip() not in ("", "0")
    )


def require_bytes(request: Request) -> None:
    if not carries_bytes(request):
        raise UnsupportedMediaType(f"the bytes of an upload are sent as {OFFSET_STREAM}")


def parse_metadata(header: str | None) -> tuple[str | None, str | None]:
    """Upload-Metadata, checked (``key base64value`` pairs separated by commas, each key
    once), as it is to be kept (None for none), and the sha256 its ``sha256`` key
    declares for the whole upload, if any."""
    if not header:
        return None, None
    if len(header) > MAX_METADATA:
        raise Invalid(f"Upload-Metadata is {len(header)} characters long; at most {MAX_METADATA}")
    if not _METADATA.fullmatch(header):
        raise Invalid(
            "Upload-Metadata must be 'key value' pairs separated by commas: keys of printable "
            "ASCII without spaces and commas, values base64-encoded"
        )
    values: dict[str, bytes] = {}
    for pair in header.split(","):
        key, _, value = pair.partition(" ")
        if key in values:
            raise Invalid(f"Upload-Metadata names {key!r} twice")
        values[key] = base64.b64decode(value)
    declared = values.get(SHA256_KEY)
    if declared is None:
        return header, None
    text = declared.decode("ascii", "replace")
    if not _SHA256_HEX.fullmatch(text):
        raise Invalid(
            "the Upload-Metadata key sha256 declares the upload's sha256: 64 lowercase hex "
            "digits, base64-encoded like every value"
        )
    return header, text


def parse_checksum(header: str | None) -> Checksum | None:
    """Upload-Checksum: an algorithm tus names and the base64 of its raw digest."""
    if header is None:
        return None
    algorithm, _, encoded = header.partition(" ")
    if algorithm not in CHECKSUMS:
        offered = ", ".join(CHECKSUMS)
        raise Invalid(f"checksum algorithm {algorithm!r} is not supported; use one of {offered}")
    if not _CHECKSUM.fullmatch(header):
        size = CHECKSUMS[algorithm]().digest_size
        raise Invalid(f"Upload-Checksum must be '{algorithm} <base64 of the {size}-byte digest>'")
    return Checksum(algorithm, base64.b64decode(encoded))


# --- the edge ------------------------------------------------------------------------------

RESUMABLE = (b"tus-resumable", VERSION.encode())
_METHOD = re.compile(r"[A-Z]+")
ErrorRenderer = Callable[[Request, int, str], Response]


class TusProtocol:
    """What tus asks of every request to the uploads' paths (``collection`` and the
    uploads in it) before a route sees it:

    - ``X-HTTP-Method-Override`` is the request's method (for clients that cannot send
      PATCH or DELETE), so that the route, and the cross-site check, see that method;
    - a request of the protocol (every method but ``OPTIONS``) must carry
      ``Tus-Resumable: 1.0.0``: otherwise 412 with ``Tus-Version``, and nothing is done;
    - every response carries ``Tus-Resumable: 1.0.0``, errors included.
    """

    def __init__(self, app: ASGIApp, render: ErrorRenderer, collection: str = COLLECTION) -> None:
        self.app = app
        self.render = render
        self.collection = collection
        self.item = re.compile(re.escape(collection) + r"[^/]+")

    def protocol_methods(self, path: str) -> frozenset[str] | None:
        """The methods of the protocol that take ``Tus-Resumable`` on ``path``; None where
        the path is not the uploads'."""
        if path in (self.collection, self.collection.rstrip("/")):
            return frozenset({"POST"})
        if self.item.fullmatch(path):
            return frozenset({"HEAD", "PATCH", "DELETE"})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = self.protocol_methods(scope["path"]) if scope["type"] == "http" else None
        if methods is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        override = headers.get("x-http-method-override", "").strip().upper()
        if _METHOD.fullmatch(override):
            scope = {**scope, "method": override}

        async def send_resumable(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), RESUMABLE]}
            await send(message)

        version = headers.get("tus-resumable")
        if scope["method"] in methods and version != VERSION:
            said = "no Tus-Resumable" if version is None else f"Tus-Resumable {version!r}"
            response = self.render(
                Request(scope, receive),
                412,
                f"this server speaks tus {VERSION}, and the request says {said}: send "
                f"Tus-Resumable: {VERSION}",
            )
            response.headers["Tus-Version"] = VERSION
            await response(scope, receive, send_resumable)
            return
        await self.app(scope, receive, send_resumable)
