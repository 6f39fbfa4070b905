"""Password hashing with argon2id.

Parameters are one of OWASP's equivalent argon2id minimums (7 MiB, 5 passes, 1 lane): of
those sets it is the one with the smallest memory, which keeps the server's peak memory
low, and it is cheap enough that dialects which send the password on every request (HTTP
Basic) stay usable. Hashes made with other parameters still verify, and are upgraded at the
next login.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataloft.core.errors import Invalid

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher(time_cost=5, memory_cost=7 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that timing does not reveal
    usernames. Made on first use, not at import."""
    return _hasher.hash("not a real password")


def check_password_rules(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long"
        )
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password_rules(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
