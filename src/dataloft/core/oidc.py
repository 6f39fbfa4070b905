"""The built-in OpenID Connect provider: what Pbench's clients need from Keycloak, without a
Keycloak. A username and password (the resource owner password grant) buy an RS256 access
token and a refresh token; anyone can fetch the public key (a JWKS) to check them.

The tokens are JSON Web Tokens (PyJWT) signed with an RSA key kept among the signing keys
(``core/signing.py``, name ``oidc-rs256``): made on first use, shared by every process,
kept across restarts, so a token outlives the process that issued it. Their claims are
Keycloak's (``iss``, ``sub``, ``aud``, ``azp``, ``typ``, ``preferred_username``,
``resource_access.<client>.roles`` holding ``ADMIN`` for an admin), so that a program
that reads Keycloak's tokens reads ours, plus ``pwf``, a fingerprint of the password hash
(as in ``core/web_tokens.py``): a changed password, like a deactivated account, ends every
token already issued. The user a token stands for is read from the database on each use.

``ExternalIssuer`` is the other way round: tokens from an OpenID provider the operator
runs (Keycloak, say), checked against its published keys, each naming a dataloft user by
``preferred_username`` (made on first sight, as Pbench Server makes them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update
from sqlalchemy.orm import Session

from dataloft.core.access import PASSWORD, Credential, Principal
from dataloft.core.accounts import AccountService
from dataloft.core.auth import make_principal
from dataloft.core.errors import Unauthenticated
from dataloft.core.signing import SigningKeys
from dataloft.core.web_tokens import fingerprint
from dataloft.db import Database
from dataloft.db.models import User

KEY_NAME = "oidc-rs256"
ALGORITHM = "RS256"
RSA_BITS = 2048
ADMIN_ROLE = "ADMIN"
# Keycloak's token types (its ``typ`` claim).
ACCESS, REFRESH = "Bearer", "Refresh"
# What an external provider may take to answer for its keys.
JWKS_TIMEOUT_SECONDS = 10
INVALID_GRANT = "Invalid user credentials"
INVALID_REFRESH = "Invalid refresh token"
INVALID_TOKEN = "the token is not valid"


def _new_rsa_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Client:
    """Who asks for a token: the issuer URL it reached us at, the realm and the client id."""

    issuer: str
    realm: str
    client_id: str


@dataclass(frozen=True)
class _Subject:
    """What a token says of its user, read in one transaction and signed after it."""

    id: int
    username: str
    email: str | None
    name: str
    is_admin: bool
    proof: str  # the password hash, fingerprinted into the token

    @classmethod
    def of(cls, user: User) -> _Subject:
        name = user.full_name or user.username
        proof = user.password_hash or ""
        return cls(user.id, user.username, user.email, name, user.is_admin, proof)


class OidcProvider:
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

    # --- the key ------------------------------------------------------------------------------

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        pem = self.keys.secret(KEY_NAME, _new_rsa_key)
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    @cached_property
    def key_id(self) -> str:
        """The key's RFC 7638 thumbprint: what a JWKS and a token's header call it."""
        return _thumbprint(self._public_jwk_without_id())

    def _public_jwk_without_id(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self._private_key.public_key(), as_dict=True
        )
        return jwk

    def jwks(self) -> dict[str, Any]:
        """The public key set (``.../protocol/openid-connect/certs``)."""
        jwk = {**self._public_jwk_without_id(), "kid": self.key_id, "use": "sig", "alg": ALGORITHM}
        return {"keys": [jwk]}

    def public_key_base64(self) -> str:
        """The public key as Keycloak's realm document gives it: base64 DER, no PEM lines."""
        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    # --- grants -------------------------------------------------------------------------------

    def grant(self, principal: Principal, client: Client) -> dict[str, Any]:
        """The token response for a caller who has just proved their password."""
        assert principal.user_id is not None and principal.credential is not None
        now = self.clock()
        with self.db.write() as session:
            session.execute(update(User).where(User.id == principal.user_id).values(last_login=now))
            user = session.get(User, principal.user_id)
            assert user is not None
            subject = _Subject.of(user)
        return self._response(subject, client, now)

    def refresh(self, token: str, client: Client) -> dict[str, Any]:
        """A new token response for a valid refresh token issued to the same client."""
        claims = self._claims(token, REFRESH, INVALID_REFRESH)
        if claims.get("azp") != client.client_id:
            raise Unauthenticated(INVALID_REFRESH)
        with self.db.read() as session:
            subject = _Subject.of(self._user(session, claims, INVALID_REFRESH))
        return self._response(subject, client, self.clock())

    def _response(self, subject: _Subject, client: Client, now: datetime) -> dict[str, Any]:
        session_id = uuid.uuid4().hex
        return {
            "access_token": self._sign(subject, client, ACCESS, now, session_id),
            "expires_in": int(self.lifetimes[ACCESS].total_seconds()),
            "refresh_expires_in": int(self.lifetimes[REFRESH].total_seconds()),
            "refresh_token": self._sign(subject, client, REFRESH, now, session_id),
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": session_id,
            "scope": "openid profile email",
        }

    def _sign(
        self, subject: _Subject, client: Client, kind: str, now: datetime, session_id: str
    ) -> str:
        claims: dict[str, Any] = {
            "exp": int((now + self.lifetimes[kind]).timestamp()),
            "iat": int(now.timestamp()),
            "jti": uuid.uuid4().hex,
            "iss": client.issuer,
            "aud": [client.client_id],
            "sub": str(subject.id),
            "typ": kind,
            "azp": client.client_id,
            "sid": session_id,
            "pwf": fingerprint(subject.proof),
        }
        if kind == ACCESS:
            claims.update(
                preferred_username=subject.username,
                email=subject.email,
                name=subject.name,
                scope="openid profile email",
                resource_access={
                    client.client_id: {"roles": [ADMIN_ROLE] if subject.is_admin else []}
                },
            )
        headers = {"kid": self.key_id}
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers=headers)

    # --- checking -----------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal:
        """The caller one of our access tokens stands for (``Unauthenticated`` if it is not
        one, or no longer good)."""
        claims = self._claims(token, ACCESS, INVALID_TOKEN)
        with self.db.read() as session:
            user = self._user(session, claims, INVALID_TOKEN)
            user_id, username, is_admin = user.id, user.username, user.is_admin
            proof = user.password_hash or ""
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        credential = Credential(PASSWORD, proof, expires)
        return make_principal(self.db, user_id, username, is_admin, None, credential)

    def userinfo(self, principal: Principal) -> dict[str, Any]:
        """The OpenID Connect userinfo of a caller (``.../openid-connect/userinfo``)."""
        assert principal.user_id is not None
        with self.db.read() as session:
            user = session.get(User, principal.user_id)
            assert user is not None
            return {
                "sub": str(user.id),
                "preferred_username": user.username,
                "email": user.email,
                "name": user.full_name or user.username,
                "email_verified": False,
            }

    def _claims(self, token: str, kind: str, message: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._private_key.public_key(),
                algorithms=[ALGORITHM],
                # Expiry is checked against the core's clock below; the audience is the
                # client's, which every route checks for itself where it matters.
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise Unauthenticated(message) from None
        exp = claims.get("exp")
        if claims.get("typ") != kind or not isinstance(exp, int):
            raise Unauthenticated(message)
        if exp <= self.clock().timestamp():
            raise Unauthenticated(message)
        return claims

    @staticmethod
    def _user(session: Session, claims: dict[str, Any], message: str) -> User:
        subject = claims.get("sub")
        number = int(subject) if isinstance(subject, str) and subject.isdigit() else None
        user = session.get(User, number) if number is not None else None
        if user is None or not user.is_active:
            raise Unauthenticated(message)
        if claims.get("pwf") != fingerprint(user.password_hash):
            raise Unauthenticated(message)
        return user


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: the sha256 of the key's required members, in order, without spaces."""
    members = {name: jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ExternalIssuer:
    """Trust in the access tokens of an OpenID provider the operator runs: RS256 (or ES256)
    signatures checked against its JWKS (fetched once, then again for an unknown key id),
    its issuer, our client id among the audiences, and the expiry. The user is the one
    named by ``preferred_username``, made on first sight without a password (they log in
    at the provider, not here); ``ADMIN`` among the client's roles makes them an admin."""

    def __init__(
        self,
        db: Database,
        accounts: AccountService,
        *,
        issuer: str,
        jwks_url: str,
        audience: str,
    ) -> None:
        self.db = db
        self.accounts = accounts
        self.issuer = issuer
        self.audience = audience
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=JWKS_TIMEOUT_SECONDS)

    def authenticate(self, token: str) -> Principal:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.InvalidTokenError, jwt.PyJWKClientError):
            raise Unauthenticated(INVALID_TOKEN) from None
        username = claims.get("preferred_username")
        if not isinstance(username, str) or not username:
            raise Unauthenticated(INVALID_TOKEN)
        roles = claims.get("resource_access", {}).get(self.audience, {}).get("roles", [])
        user_id, is_admin = self.accounts.external_user(
            username, claims.get("email"), admin=isinstance(roles, list) and ADMIN_ROLE in roles
        )
        credential = Credential(PASSWORD, "", datetime.fromtimestamp(claims["exp"], UTC))
        return make_principal(self.db, user_id, username, is_admin, None, credential)
