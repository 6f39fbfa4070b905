"""Who is calling UFDL's API, and through which node.

``Authorization: Bearer <token>`` carries either an access token from ``/v1/auth/obtain``
(a JSON Web Token, ``core/web_tokens.py``) or a dataloft API token: one set of users and
credentials serves every dialect. No header is an anonymous caller; a bad or expired token
is a 401 everywhere, even where anonymous callers are welcome, because that is how UFDL's
clients learn to refresh their token.

``Node-Id: <number>`` names a worker node (``core/nodes.py``). A malformed or unknown one is
a 400 on any request. A valid one marks the node as seen and lets an X member write to the
datasets of teams in which the node's registrant is a member: their level counts as W
there, for the writes UFDL lets nodes make (``Caller.level`` keeps the level itself, for
the actions nodes may not take: creating and deleting datasets).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from starlette.requests import Request

from dataloft.core.access import ANONYMOUS, Level, Principal
from dataloft.core.errors import Invalid, NotFound, Unauthenticated
from dataloft.core.loft import Loft
from dataloft.core.pagination import ascii_natural
from dataloft.core.web_tokens import INVALID_TOKEN

NODE_HEADER = "node-id"


class NodeLevels(Mapping[int, Level]):
    """A member's team levels as seen through a node: X counts as W in ``elevated``
    teams. ``members`` keeps the levels themselves."""

    def __init__(self, members: Mapping[int, Level], elevated: frozenset[int]) -> None:
        self.members = members
        self.elevated = elevated

    def __getitem__(self, team_id: int) -> Level:
        level = self.members[team_id]
        if level is Level.EXECUTE and team_id in self.elevated:
            return Level.WRITE
        return level

    def __iter__(self) -> Iterator[int]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def own_level(principal: Principal, team_id: int) -> Level | None:
    """The caller's level in a team, not raised by a node."""
    teams = principal.teams
    members = teams.members if isinstance(teams, NodeLevels) else teams
    return members.get(team_id)


def _bearer(loft: Loft, header: str) -> Principal:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(INVALID_TOKEN)
    if token.count(".") == 2:  # a JSON Web Token; API tokens hold no dots
        return loft.web_tokens.authenticate(token)
    try:
        return loft.auth.authenticate_token(token)
    except Unauthenticated:
        raise Unauthenticated(INVALID_TOKEN) from None


def authenticate(loft: Loft, request: Request) -> Principal:
    header = request.headers.get("authorization")
    principal = _bearer(loft, header) if header else ANONYMOUS
    node_id = request.headers.get(NODE_HEADER)
    if node_id is None:
        return principal
    number = ascii_natural(node_id.strip())
    if number is None:
        raise Invalid(
            f"Bad Node-Id header {node_id!r}: Unable to parse into an integer primary-key"
        )
    try:
        node = loft.nodes.get(number)
    except NotFound:
        raise Invalid(f"Bad Node-Id header {node_id!r}: No node with this primary-key") from None
    loft.nodes.seen(node.id)
    if principal.is_anonymous:
        return principal
    elevated = loft.nodes.elevated_teams(node)
    return replace(principal, teams=NodeLevels(principal.teams, elevated))
