"""Who may do what: the one access rule every dialect maps onto.

``can(principal, action, target)`` answers for actions ``read``, ``write`` and ``admin``:
site admins may do everything; the owner may do everything; members of the team that owns
the dataset's project act per their level (R and X read, W writes, A administers); a public
dataset is readable by everyone, anonymous callers included. Tokens with the ``read`` scope
never write. ``visible_dataset_filter`` in ``dataloft.core.datasets`` is the same rule as a
SQL condition, for listings; ``tests/unit/core/test_access.py`` pins both to one matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from dataloft.core.errors import Forbidden, NotFound, Unauthenticated


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Level(StrEnum):
    """Team membership levels, ordered R < X < W < A (read, execute, write, admin)."""

    READ = "R"
    EXECUTE = "X"
    WRITE = "W"
    ADMIN = "A"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Level) -> bool:
        return self.rank >= other.rank


_RANKS = {Level.READ: 0, Level.EXECUTE: 1, Level.WRITE: 2, Level.ADMIN: 3}
_LEVEL_FOR = {Action.READ: Level.READ, Action.WRITE: Level.WRITE, Action.ADMIN: Level.ADMIN}


class TeamLevels(Mapping[int, Level]):
    """A principal's levels in their teams, fetched on first use: most requests are decided
    by ownership, admin rights or visibility and never need them."""

    def __init__(self, load: Callable[[], dict[int, Level]]) -> None:
        self._load = load
        self._levels: dict[int, Level] | None = None

    def _all(self) -> dict[int, Level]:
        if self._levels is None:
            self._levels = self._load()
        return self._levels

    def __getitem__(self, team_id: int) -> Level:
        return self._all()[team_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


READ_SCOPE = "read"
SCOPES = (READ_SCOPE,)


@dataclass(frozen=True)
class Credential:
    """How a principal proved who it is, kept so that a long-lived request (an open event
    stream) can ask later whether that proof still holds (``AuthService.reauthenticate``)."""

    kind: str  # TOKEN or PASSWORD
    proof: str  # the token's sha256, or the password hash the password matched
    expires_at: datetime | None = None  # a token's, when it has one


TOKEN, PASSWORD = "token", "password"


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    user_id: int | None = None
    username: str | None = None
    is_admin: bool = False
    scope: str | None = None  # None: everything the user may do; "read": reads only
    teams: Mapping[int, Level] = field(default_factory=lambda: MappingProxyType({}))
    credential: Credential | None = field(default=None, compare=False)

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and not self.is_admin


ANONYMOUS = Principal()
# The server itself acting on an operator's behalf (the CLI, start-up bootstrap).
SYSTEM = Principal(username="system", is_admin=True)


@dataclass(frozen=True)
class Target:
    """What ``can`` needs to know of a dataset."""

    owner_id: int
    visibility: str
    team_id: int | None = None


def can(principal: Principal, action: Action, target: Target) -> bool:
    if principal.scope == READ_SCOPE and action is not Action.READ:
        return False
    if principal.is_admin or (
        principal.user_id is not None and principal.user_id == target.owner_id
    ):
        return True
    level = principal.teams.get(target.team_id) if target.team_id is not None else None
    if level is not None and level.at_least(_LEVEL_FOR[action]):
        return True
    return action is Action.READ and target.visibility == "public"


def require_full_token(principal: Principal, what: str) -> None:
    """Raise unless the caller may store anything at all (``what``: to upload blobs, say):
    logged in, with a token that is not read-only."""
    if principal.is_anonymous:
        raise Unauthenticated(f"log in to {what}")
    if principal.scope is not None:
        raise Forbidden(f"this token may only read; to {what} needs a full token")


def require(principal: Principal, action: Action, target: Target, what: str) -> None:
    """Raise the error a caller who may not do ``action`` should see. Those who may not even
    read get ``NotFound``, so that private datasets do not leak their existence."""
    if can(principal, action, target):
        return
    if not can(principal, Action.READ, target):
        raise NotFound(f"{what} not found")
    if principal.is_anonymous:
        raise Unauthenticated(f"log in to {action.value} {what}")
    if principal.scope == READ_SCOPE:
        raise Forbidden(f"this token may only read; {action.value} on {what} needs a full token")
    raise Forbidden(f"you may not {action.value} {what}")
