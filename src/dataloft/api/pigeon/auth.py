"""Who is calling Pigeon Optics: HTTP Basic on any request, or the session cookie that
``POST /auth`` sets. The cookie holds a dataloft login token (stored hashed, expiring), so
a session is revoked like any token and needs no signing key."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from dataloft.api.clients import client_address
from dataloft.api.cookies import SESSION_COOKIE
from dataloft.core.access import ANONYMOUS, Principal
from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.names import RESERVED_NAMES

# Names nobody may register here: the original's forbiddenAuthorNames are among the core's
# reserved names, which every API and the CLI refuse for new accounts and teams.
RESERVED_AUTHORS = RESERVED_NAMES
REALM = 'Basic realm="PigeonOptics", charset="UTF-8"'


class BadCredentials(Invalid):
    """Basic credentials that do not match an account: this system answers 400, not 401."""


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise BadCredentials("only HTTP Basic authentication is supported here")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("malformed HTTP Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise BadCredentials("malformed HTTP Basic credentials: no ':'")
    return username, password


def authenticate(loft: Loft, request: Request) -> Principal:
    credentials = basic_credentials(request)
    if credentials is not None:
        try:
            return loft.auth.authenticate_password(*credentials, client_address(request))
        except Unauthenticated as error:  # (TooManyRequests passes: a 429 with Retry-After)
            raise BadCredentials(
                f"Invalid credentials supplied with Basic HTTP authentication: {error.message}"
            ) from None
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        try:
            return loft.auth.authenticate_token(session)
        except Unauthenticated:
            return ANONYMOUS  # an expired or revoked session: log in again
    return ANONYMOUS
