"""dataloft.core.access: the one access rule, pinned cell by cell."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from dataloft.core.access import (
    ANONYMOUS,
    READ_SCOPE,
    SYSTEM,
    Action,
    Level,
    Principal,
    Target,
    can,
    require,
)
from dataloft.core.errors import Forbidden, LoftError, NotFound, Unauthenticated

OWNER_ID = 10
STRANGER_ID = 20
MEMBER_ID = 30
ADMIN_ID = 40
TEAM_ID = 7
OTHER_TEAM_ID = 8


def _member(level: Level, team: int = TEAM_ID) -> Principal:
    return Principal(user_id=MEMBER_ID, username="member", teams=MappingProxyType({team: level}))


PRINCIPALS: dict[str, Principal] = {
    "anonymous": ANONYMOUS,
    "stranger": Principal(user_id=STRANGER_ID, username="stranger"),
    "member-R": _member(Level.READ),
    "member-X": _member(Level.EXECUTE),
    "member-W": _member(Level.WRITE),
    "member-A": _member(Level.ADMIN),
    "other-team-A": _member(Level.ADMIN, OTHER_TEAM_ID),
    "owner": Principal(user_id=OWNER_ID, username="owner"),
    "site-admin": Principal(user_id=ADMIN_ID, username="root", is_admin=True),
    "owner-read-token": Principal(user_id=OWNER_ID, username="owner", scope=READ_SCOPE),
    "admin-read-token": Principal(
        user_id=ADMIN_ID, username="root", is_admin=True, scope=READ_SCOPE
    ),
}

TARGETS: dict[str, Target] = {
    "private": Target(owner_id=OWNER_ID, visibility="private"),
    "private+team": Target(owner_id=OWNER_ID, visibility="private", team_id=TEAM_ID),
    "public": Target(owner_id=OWNER_ID, visibility="public"),
    "public+team": Target(owner_id=OWNER_ID, visibility="public", team_id=TEAM_ID),
}

# Allowed actions per principal, one group per target in TARGETS order (private,
# private+team, public, public+team): r(ead), w(rite), a(dmin); '-' means refused.
MATRIX_ROWS: dict[str, str] = {
    "anonymous":        "---  ---  r--  r--",
    "stranger":         "---  ---  r--  r--",
    "member-R":         "---  r--  r--  r--",
    "member-X":         "---  r--  r--  r--",
    "member-W":         "---  rw-  r--  rw-",
    "member-A":         "---  rwa  r--  rwa",
    "other-team-A":     "---  ---  r--  r--",
    "owner":            "rwa  rwa  rwa  rwa",
    "site-admin":       "rwa  rwa  rwa  rwa",
    "owner-read-token": "r--  r--  r--  r--",
    "admin-read-token": "r--  r--  r--  r--",
}  # fmt: skip
MATRIX: dict[str, dict[str, str]] = {
    who: dict(zip(TARGETS, row.split(), strict=True)) for who, row in MATRIX_ROWS.items()
}

ACTIONS = (Action.READ, Action.WRITE, Action.ADMIN)


def _cells() -> list[tuple[str, str, Action, bool]]:
    cells = []
    for who, row in MATRIX.items():
        for where, allowed in row.items():
            for index, action in enumerate(ACTIONS):
                assert allowed[index] in (action.value[0], "-")
                cells.append((who, where, action, allowed[index] != "-"))
    return cells


CELLS = _cells()


def test_matrix_covers_every_principal_target_and_action() -> None:
    assert set(MATRIX) == set(PRINCIPALS)
    assert all(set(row) == set(TARGETS) for row in MATRIX.values())
    assert len(CELLS) == len(PRINCIPALS) * len(TARGETS) * len(ACTIONS) == 132


@pytest.mark.parametrize(("who", "where", "action", "allowed"), CELLS)
def test_can(who: str, where: str, action: Action, allowed: bool) -> None:
    assert can(PRINCIPALS[who], action, TARGETS[where]) is allowed


def _expected_error(who: str, where: str) -> type[LoftError] | None:
    """What require() raises for a refused action, from the matrix's read column."""
    if MATRIX[who][where][0] == "-":
        return NotFound
    if PRINCIPALS[who].is_anonymous:
        return Unauthenticated
    return Forbidden


@pytest.mark.parametrize(("who", "where", "action", "allowed"), CELLS)
def test_require(who: str, where: str, action: Action, allowed: bool) -> None:
    principal, target = PRINCIPALS[who], TARGETS[where]
    if allowed:
        require(principal, action, target, "dataset o/n")  # must not raise
        return
    error = _expected_error(who, where)
    assert error is not None
    with pytest.raises(error) as caught:
        require(principal, action, target, "dataset o/n")
    assert type(caught.value) is error
    assert "dataset o/n" in caught.value.message


def test_require_messages() -> None:
    private, public = TARGETS["private"], TARGETS["public"]
    with pytest.raises(NotFound) as not_found:
        require(ANONYMOUS, Action.READ, private, "dataset o/n")
    assert not_found.value.message == "dataset o/n not found"
    with pytest.raises(Unauthenticated) as unauthenticated:
        require(ANONYMOUS, Action.WRITE, public, "dataset o/n")
    assert unauthenticated.value.message == "log in to write dataset o/n"
    with pytest.raises(Forbidden) as forbidden:
        require(PRINCIPALS["stranger"], Action.ADMIN, public, "dataset o/n")
    assert forbidden.value.message == "you may not admin dataset o/n"
    with pytest.raises(Forbidden) as scoped:
        require(PRINCIPALS["owner-read-token"], Action.WRITE, private, "dataset o/n")
    assert "may only read" in scoped.value.message


def test_private_dataset_without_read_is_not_found_even_for_write() -> None:
    # Not "forbidden": that would confirm the dataset exists.
    for who in ("anonymous", "stranger", "member-A", "other-team-A"):
        with pytest.raises(NotFound):
            require(PRINCIPALS[who], Action.WRITE, TARGETS["private"], "dataset o/n")


def test_system_principal_may_do_everything() -> None:
    assert not SYSTEM.is_anonymous
    for target in TARGETS.values():
        for action in ACTIONS:
            assert can(SYSTEM, action, target)


def test_levels_are_ordered() -> None:
    order = [Level.READ, Level.EXECUTE, Level.WRITE, Level.ADMIN]
    assert [level.rank for level in order] == [0, 1, 2, 3]
    assert Level.WRITE.at_least(Level.EXECUTE)
    assert Level.EXECUTE.at_least(Level.EXECUTE)
    assert not Level.EXECUTE.at_least(Level.WRITE)
    assert not Level.READ.at_least(Level.EXECUTE)


def test_anonymous_means_no_user_and_no_admin() -> None:
    assert ANONYMOUS.is_anonymous
    assert not PRINCIPALS["stranger"].is_anonymous
    assert not PRINCIPALS["owner-read-token"].is_anonymous


def test_a_user_with_id_equal_to_team_id_gains_nothing() -> None:
    # Team ids and user ids are different number spaces: owner_id must not match a team.
    lookalike = Principal(user_id=TEAM_ID, username="seven")
    assert not can(lookalike, Action.READ, TARGETS["private+team"])
