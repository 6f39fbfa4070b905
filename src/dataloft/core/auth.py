"""Authentication: passwords, API tokens, and the ``Principal`` of a request.

An API token is the one credential every dialect accepts (Bearer, Algorithmia's ``Simple``
key, Pbench's API key, ...). Its secret is shown once; the database keeps its sha256.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from dataloft.bounded import put_bounded
from dataloft.core.access import (
    PASSWORD,
    SCOPES,
    TOKEN,
    Credential,
    Level,
    Principal,
    TeamLevels,
)
from dataloft.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from dataloft.core.names import check_text
from dataloft.core.pagination import is_row_id
from dataloft.core.passwords import Passwords
from dataloft.core.results import NewToken, TokenView
from dataloft.core.throttle import LoginThrottle
from dataloft.db import Database
from dataloft.db.models import ApiToken, Membership, Team, User, table_of
from dataloft.db.prepared import Prepared
from dataloft.db.types import utcnow

V = TypeVar("V")
TOKEN_PREFIX = "dl_"
LOGIN_TOKEN_DAYS = 30


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


_TOKENS, _USERS, _MEMBERSHIPS = table_of(ApiToken), table_of(User), table_of(Membership)
_TEAMS = table_of(Team)
# Every authenticated request runs these two (see dataloft.db.prepared).
_TOKEN_LOOKUP = Prepared(
    select(
        _TOKENS.c.expires_at,
        _TOKENS.c.scope,
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.is_admin,
        _USERS.c.is_active,
    )
    .select_from(_TOKENS.join(_USERS, _USERS.c.id == _TOKENS.c.user_id))
    .where(_TOKENS.c.token_hash == bindparam("digest")),
    remembered=True,
)
# A team taken out of use grants nothing.
_TEAM_LEVELS = Prepared(
    select(_MEMBERSHIPS.c.team_id, _MEMBERSHIPS.c.level)
    .select_from(_MEMBERSHIPS.join(_TEAMS, _TEAMS.c.id == _MEMBERSHIPS.c.team_id))
    .where(_MEMBERSHIPS.c.user_id == bindparam("user_id"), _TEAMS.c.deleted_at.is_(None))
)


def make_principal(
    db: Database,
    user_id: int,
    username: str,
    is_admin: bool,
    scope: str | None = None,
    credential: Credential | None = None,
) -> Principal:
    def levels() -> dict[int, Level]:
        with db.lookup() as lookup:
            rows = lookup.rows(_TEAM_LEVELS, user_id=user_id)
        return {team_id: Level(level) for team_id, level in rows}

    return Principal(
        user_id=user_id,
        username=username,
        is_admin=is_admin,
        scope=scope,
        teams=TeamLevels(levels),
        credential=credential,
    )


def _token_view(token: ApiToken, username: str) -> TokenView:
    return TokenView(
        id=token.id,
        username=username,
        name=token.name,
        prefix=token.prefix,
        scope=token.scope,
        created=token.created,
        expires_at=token.expires_at,
    )


class _Recent(Generic[V]):
    """Values kept for ``seconds`` after they were put, at most ``MAX_ENTRIES`` of them
    (the oldest go first). ``seconds`` of 0 keeps nothing."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.now = now
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None or found[0] < self.now():
            return None
        return found[1]

    def put(self, key: str, value: V) -> None:
        if self.seconds <= 0:
            return
        put_bounded(self._entries, key, (self.now() + self.seconds, value), self.MAX_ENTRIES)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)


class _RecentlyVerified(_Recent[tuple[int, str]]):
    """Passwords verified in the last ``seconds`` (user id and password hash), so that a
    client sending HTTP Basic with every request costs one argon2 check per interval, not
    one per request (tens of milliseconds of CPU each). Keyed by a fast hash of the
    credentials; a hit is only a hint: the account must still be active with the same
    password hash."""

    @staticmethod
    def key(username: str, password: str) -> str:
        raw = f"{username}\0{password}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()


# On PostgreSQL, token rows (expiry, scope, account) by token digest, with the
# ``Database.generation`` they were read at, kept ``token_cache_seconds`` (0 by default:
# none are kept): a client sending one token with every request costs one round trip per
# interval. A commit of this process's counts at once; another process's (a second server
# process, the ``dataloft`` command) that changes a user or a token as soon as this
# process hears of it (``db/changes.py``: milliseconds), and at the latest when the row
# is that old (the notification connection down). Expiry is checked on
# every request, against the clock. SQLite needs none of this: its lookup connection
# remembers the row exactly while nothing is committed (``db.engine.RowMemory``).
_RecentTokens = _Recent[tuple[Hashable, tuple[Any, ...]]]


class AuthService:
    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        clock: Callable[[], datetime] = utcnow,
        *,
        throttle: LoginThrottle | None = None,
        basic_cache_seconds: float = 0,
        token_cache_seconds: float = 0,
    ) -> None:
        self.db = db
        self.passwords = passwords
        # What time it is, for token expiry (tests move it forward instead of waiting).
        self.clock = clock
        self.throttle = throttle
        self._verified = _RecentlyVerified(basic_cache_seconds)
        self._tokens = _RecentTokens(0 if db.local else token_cache_seconds)
        if db.changes is not None:
            # What a remembered token row holds: other processes hear of changes to these
            # tables (db/changes.py), and forget what they remembered at once.
            db.changes.watch(User.__tablename__, ApiToken.__tablename__)

    # --- credentials -> principal ----------------------------------------------------------

    def authenticate_token(self, secret: str) -> Principal:
        return self._token_principal(token_digest(secret), "unknown or invalid API token")

    def _token_principal(self, digest: str, unknown: str) -> Principal:
        # Read before the row, so that a commit after it is seen (only the interval uses it).
        generation = self.db.generation() if self._tokens.seconds else None
        cached = self._tokens.get(digest) if generation is not None else None
        if cached is not None and cached[0] == generation:
            row = cached[1]
        else:
            with self.db.lookup() as lookup:
                found = lookup.first(_TOKEN_LOOKUP, digest=digest)
            if found is None:
                raise Unauthenticated(unknown)
            row = found
            self._tokens.put(digest, (generation, row))
        expires_at, scope, user_id, username, is_admin, is_active = row
        if expires_at is not None and expires_at <= self.clock():
            raise Unauthenticated("API token has expired")
        if not is_active:
            raise Unauthenticated("account is deactivated")
        credential = Credential(TOKEN, digest, expires_at)
        return make_principal(self.db, user_id, username, is_admin, scope, credential)

    def authenticate_password(
        self, username: str, password: str, address: str | None = None
    ) -> Principal:
        """Check a username and password (HTTP Basic, login forms), from a client at
        ``address``: too many failures for the account or the address are
        ``TooManyRequests`` (see ``dataloft.core.throttle``)."""
        key = self._verified.key(username, password)
        recent = self._verified.get(key)
        if recent is not None:
            user_id, checked = recent
            known = Principal(user_id=user_id, credential=Credential(PASSWORD, checked))
            try:
                return self.reauthenticate(known)
            except Unauthenticated:
                self._verified.drop(key)  # changed since: check it all again
        if self.throttle is not None:
            self.throttle.check(username, address)
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            stored_hash = user.password_hash if user else None
            right = self.passwords.verify(stored_hash, password) and user is not None
        if not right or user is None:
            if self.throttle is not None:
                self.throttle.failed(username, address)
            raise Unauthenticated("wrong username or password")
        if not user.is_active:
            raise Unauthenticated("account is deactivated")
        if self.throttle is not None:
            self.throttle.succeeded(username)
        proof = user.password_hash
        if proof and self.passwords.needs_rehash(proof):
            proof = self.passwords.hash(password)
            with self.db.write() as session:
                stored = session.get(User, user.id)
                if stored is not None:
                    stored.password_hash = proof
        credential = Credential(PASSWORD, proof or "")
        self._verified.put(key, (user.id, credential.proof))
        return make_principal(self.db, user.id, user.username, user.is_admin, None, credential)

    def reauthenticate(self, principal: Principal) -> Principal:
        """The same caller as of now, for a request that outlives a moment (an event
        stream): ``Unauthenticated`` if its token was revoked or expired, its password
        changed or its account deactivated; otherwise a fresh principal whose team levels
        are read again. Principals with no credential (anonymous, the server itself) are
        returned as they are."""
        credential = principal.credential
        if credential is None:
            return principal
        if credential.kind == TOKEN:
            return self._token_principal(
                credential.proof, "the API token or login session was revoked"
            )
        with self.db.read() as session:
            user = session.get(User, principal.user_id)
            if user is None or not user.is_active:
                raise Unauthenticated("account is deactivated")
            if user.password_hash != credential.proof:
                raise Unauthenticated("the password was changed: log in again")
            return make_principal(self.db, user.id, user.username, user.is_admin, None, credential)

    def login(
        self, username: str, password: str, name: str = "login", address: str | None = None
    ) -> NewToken:
        """Exchange a password for a login session: an API token that expires after a
        while and is revoked when the password changes."""
        principal = self.authenticate_password(username, password, address)
        expires = self.clock() + timedelta(days=LOGIN_TOKEN_DAYS)
        return self.create_token(principal, name=name, expires_at=expires, session=True)

    # --- token management ------------------------------------------------------------------

    def create_token(
        self,
        actor: Principal,
        *,
        username: str | None = None,
        name: str = "",
        expires_at: datetime | None = None,
        scope: str | None = None,
        session: bool = False,
    ) -> NewToken:
        """Make a token for ``username`` (default: the actor). Only admins make tokens for
        others; a read-scoped token cannot make tokens. A ``session`` (what logging in
        makes) goes when the password changes."""
        if actor.scope is not None:
            raise Forbidden("a scoped token cannot create tokens")
        if scope is not None and scope not in SCOPES:
            raise Invalid(f"unknown token scope {scope!r}; known scopes: {', '.join(SCOPES)}")
        if expires_at is not None and expires_at <= self.clock():
            raise Invalid("expiry must be in the future")
        check_text(name, "token name", 200)
        secret = new_secret()
        with self.db.write() as transaction:
            user = self._user_for(transaction, actor, username)
            token = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=token_digest(secret),
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                scope=scope,
                expires_at=expires_at,
                session=session,
            )
            transaction.add(token)
            transaction.flush()
            return NewToken(secret=secret, token=_token_view(token, user.username))

    def list_tokens(self, actor: Principal, username: str | None = None) -> list[TokenView]:
        with self.db.read() as session:
            user = self._user_for(session, actor, username)
            tokens = session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
            )
            return [_token_view(t, user.username) for t in tokens]

    def revoke_token(self, actor: Principal, token_id: int) -> None:
        if actor.scope is not None:
            raise Forbidden("a scoped token cannot revoke tokens")
        with self.db.write() as session:
            token = session.get(ApiToken, token_id) if is_row_id(token_id) else None
            if token is None or not (actor.is_admin or token.user_id == actor.user_id):
                raise NotFound(f"token {token_id} not found")
            session.delete(token)

    def revoke_secret(self, secret: str) -> None:
        """End a login session: forget the token with this secret (if it still exists)."""
        with self.db.write() as session:
            session.execute(delete(ApiToken).where(ApiToken.token_hash == token_digest(secret)))

    @staticmethod
    def _user_for(session: Session, actor: Principal, username: str | None) -> User:
        if actor.is_anonymous:
            raise Unauthenticated("log in to manage API tokens")
        target = username or actor.username
        if target != actor.username and not actor.is_admin:
            raise Forbidden("only admins manage other users' tokens")
        user = session.scalar(select(User).where(User.username == target))
        if user is None:
            raise NotFound(f"user {target!r} not found")
        return user
