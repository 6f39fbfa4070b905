"""Password hashing with argon2id.

Parameters follow OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): strong enough
for stored hashes, and cheap enough that dialects which send the password on every request
(HTTP Basic) stay usable.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataloft.core.errors import Invalid

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so that timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not a real password")


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
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
