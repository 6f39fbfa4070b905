"""JSON Web Tokens, as UFDL clients use them: a password buys a pair, a short-lived
access token (5 minutes by default) and a longer refresh token (8 hours) that buys new
access tokens; each request sends the access token as ``Bearer``.

They are HS256 tokens (PyJWT) signed with the ``jwt`` signing key (``core/signing.py``),
with UFDL's claim names: ``upk`` the user's id, ``jtt`` the kind, ``exp``/``iat``/``jti``.
Unlike UFDL's, ours also carry ``pwf``, a fingerprint of the password hash the password
matched: a changed password, like a deactivated account, ends every token already given
out (clients then log in again, as they do when a token expires). The principal a token
stands for is read from the database on each use, so its teams and rights are current.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import update

from dataloft.core.access import PASSWORD, Credential, Principal
from dataloft.core.auth import make_principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.signing import SigningKeys
from dataloft.db import Database
from dataloft.db.models import User

ACCESS, REFRESH = "access", "refresh"
KEY_NAME = "jwt"
ALGORITHM = "HS256"
# UFDL's words for a token that will not do, which its clients show as they are.
INVALID_TOKEN = "Given token not valid for any token type"
INVALID_REFRESH = "Token is invalid"


def fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class WebTokens:
    def __init__(
        self,
        db: Database,
        keys: SigningKeys,
        clock: Callable[[], datetime],
        *,
        access_seconds: int,
        refresh_seconds: int,
    ) -> None:
        self.db = db
        self.keys = keys
        self.clock = clock
        self.lifetimes = {
            ACCESS: timedelta(seconds=access_seconds),
            REFRESH: timedelta(seconds=refresh_seconds),
        }

    def obtain(self, principal: Principal) -> dict[str, str]:
        """A new pair for a caller who has just proved their password
        (``AuthService.authenticate_password``); their last login is now."""
        assert principal.user_id is not None and principal.credential is not None
        now = self.clock()
        with self.db.write() as session:
            session.execute(update(User).where(User.id == principal.user_id).values(last_login=now))
        proof = principal.credential.proof
        return {
            REFRESH: self._sign(principal.user_id, proof, REFRESH, now),
            ACCESS: self._sign(principal.user_id, proof, ACCESS, now),
        }

    def refresh(self, token: str) -> str:
        """A new access token for a valid refresh token (the refresh token stays)."""
        claims = self._claims(token, REFRESH, INVALID_REFRESH)
        user = self._user(claims, INVALID_REFRESH)
        return self._sign(user.id, user.password_hash or "", ACCESS, self.clock())

    def verify(self, token: str) -> None:
        """Whether ``token`` is valid, of either kind: ``Unauthenticated`` if not."""
        for kind in self.lifetimes:
            try:
                self._user(self._claims(token, kind, INVALID_REFRESH), INVALID_REFRESH)
                return
            except Unauthenticated:
                continue
        raise Unauthenticated(INVALID_REFRESH)

    def authenticate(self, token: str) -> Principal:
        """The caller an access token stands for."""
        claims = self._claims(token, ACCESS, INVALID_TOKEN)
        user = self._user(claims, INVALID_TOKEN)
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        credential = Credential(PASSWORD, user.password_hash or "", expires)
        return make_principal(self.db, user.id, user.username, user.is_admin, None, credential)

    # --- signing and checking ----------------------------------------------------------------

    def _sign(self, user_id: int, proof: str, kind: str, now: datetime) -> str:
        claims = {
            "jtt": kind,
            "upk": str(user_id),
            "pwf": fingerprint(proof),
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetimes[kind]).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.keys.secret(KEY_NAME), algorithm=ALGORITHM)

    def _claims(self, token: str, kind: str, message: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.keys.secret(KEY_NAME),
                algorithms=[ALGORITHM],
                options={
                    "require": ["exp", "iat", "jti", "jtt", "upk"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthenticated(message) from None
        # Times by our clock, not PyJWT's (the system's): tests move it forward instead of
        # waiting, and a token made then must not look as if it came from the future.
        expires = claims["exp"]
        if not isinstance(expires, int) or expires <= self.clock().timestamp():
            raise Unauthenticated(message)
        if claims["jtt"] != kind:
            raise Unauthenticated(message)
        return claims

    def _user(self, claims: dict[str, Any], message: str) -> User:
        user_id = claims["upk"]
        if not isinstance(user_id, str) or not user_id.isdigit():
            raise Unauthenticated(message)
        with self.db.read() as session:
            user = session.get(User, int(user_id))
            if user is not None:
                session.expunge(user)
        if (
            user is None
            or not user.is_active
            or claims.get("pwf") != fingerprint(user.password_hash)
        ):
            raise Unauthenticated(message)
        return user
