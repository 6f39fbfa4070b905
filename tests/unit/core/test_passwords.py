"""``Passwords``: argon2id with the parameters it was made with, and no shared state."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import HashingError

from dataloft.core.errors import Invalid
from dataloft.core.passwords import (
    DEFAULT_MEMORY_KIB,
    DEFAULT_PASSES,
    MIN_MEMORY_KIB,
    MIN_PASSES,
    Passwords,
)

CHEAP = Passwords(memory_kib=MIN_MEMORY_KIB, passes=MIN_PASSES)


def test_minimums_are_argons_own() -> None:
    """The settings refuse less than MIN_MEMORY_KIB and MIN_PASSES: exactly what argon2
    itself refuses to hash with."""
    PasswordHasher(memory_cost=MIN_MEMORY_KIB, time_cost=MIN_PASSES, parallelism=1).hash("pw")
    with pytest.raises(HashingError, match="Memory cost is too small"):
        PasswordHasher(memory_cost=MIN_MEMORY_KIB - 1, time_cost=1, parallelism=1).hash("pw")
    with pytest.raises(HashingError, match="Time cost is too small"):
        PasswordHasher(memory_cost=MIN_MEMORY_KIB, time_cost=MIN_PASSES - 1, parallelism=1).hash(
            "pw"
        )


def test_hashes_carry_the_parameters_given() -> None:
    made = Passwords(memory_kib=16, passes=2).hash("password-1")
    params = extract_parameters(made)
    assert (params.memory_cost, params.time_cost, params.parallelism) == (16, 2, 1)
    default = extract_parameters(Passwords().hash("password-1"))
    assert (default.memory_cost, default.time_cost) == (DEFAULT_MEMORY_KIB, DEFAULT_PASSES)


def test_verify() -> None:
    made = CHEAP.hash("password-1")
    assert CHEAP.verify(made, "password-1")
    assert not CHEAP.verify(made, "password-2")
    assert not CHEAP.verify("not a hash", "password-1")
    assert not CHEAP.verify(None, "not a real password")  # the dummy's own password
    assert not CHEAP.verify(None, "password-1")


def test_the_dummy_hash_costs_what_a_real_check_costs() -> None:
    passwords = Passwords(memory_kib=24, passes=3)
    assert not passwords.verify(None, "password-1")
    params = extract_parameters(passwords._dummy_hash)
    assert (params.memory_cost, params.time_cost) == (24, 3)


def test_hashes_of_other_parameters_verify_and_need_a_rehash() -> None:
    other = Passwords(memory_kib=16, passes=2)
    older = other.hash("password-1")
    assert CHEAP.verify(older, "password-1")
    assert CHEAP.needs_rehash(older)
    assert not other.needs_rehash(older)
    assert not CHEAP.needs_rehash(CHEAP.hash("password-1"))


def test_the_password_rules_hold_for_hashing() -> None:
    with pytest.raises(Invalid, match="8-1024 characters"):
        CHEAP.hash("short")
    with pytest.raises(Invalid, match="8-1024 characters"):
        CHEAP.hash("x" * 1025)
